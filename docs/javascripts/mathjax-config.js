// MathJax 3 reads this object when assets/mathjax/tex-svg.js loads (that file is copied from the
// django-static-mathjax package at build time; nothing is fetched from a CDN). pymdownx.arithmatex leaves the
// TeX in <span class="arithmatex">\( ... \)</span> and <div class="arithmatex">\[ ... \]</div>; only those are typeset.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
    tags: "ams"
  },
  svg: { fontCache: "global" },
  options: {
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex"
  }
};

