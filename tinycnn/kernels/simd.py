"""A register-blocked SIMD micro-kernel for Numba: the multiply-adds of the direct convolutions.

Not a kernel of its own: :mod:`tinycnn.kernels.numba_direct` (the convolutions) and
:mod:`tinycnn.kernels.numba_dense` (every matrix product) call :func:`tile` from their compiled loops.
Read :mod:`tinycnn.kernels.reference` for the math (``reference.conv2d_forward_direct`` is the convolution
these tiles vectorise, as plain loops); this file is only about doing multiply-adds fast.

What it computes
----------------
A small block ("tile") of ``MR`` rows x ``NV`` vectors of an output matrix ``c``, as a sum of outer products
over a loop nest of up to three levels::

    for i1 < n1, i2 < n2, i3 < n3:                     k = (i1, i2, i3)
        av = a0 + i1*a1 + i2*a2 + i3*a3                (where row 0 of A's column k is)
        bv = b0 + i1*b1 + i2*b2 + i3*b3                (where row k of B starts)
        for p < MR, v < NV:
            acc[p, v] += a[av + p*a_row] * b[bv + v*VL : bv + (v+1)*VL]
    c[c0 + p*c_row + v*VL : ... + VL] = acc[p, v]      (or += , see ``init``)

``a``, ``b``, ``c`` are flat (1-D) arrays; the offsets, strides and counts travel together as one
:class:`TileWalk` (``a0`` is ``walk.a_start``, ``a1`` is ``walk.a_step1``, ``n1`` is ``walk.count1`` ...).
:func:`tile_numpy` is this loop nest written in NumPy, to be read (and tested against the compiled tile).

This is one block of a matrix product ``C = A @ B`` whose rows of ``A`` and ``B`` are found by *strides*, not
by a stored matrix. For a convolution (channels last) ``A`` is
the image itself: row ``p`` of the tile is output pixel ``j0 + p``, and its "column" ``k = (tap row, tap
column, channel)`` is the number ``xp[n, i + a, j0 + p + b, c]`` -- three strides. No im2col matrix is ever
written: that is the difference from the im2col + BLAS route (:mod:`tinycnn.kernels.numba_im2col`).

Why it is fast
--------------
``acc`` is ``MR * NV`` SIMD registers that stay in the CPU for the whole loop nest. Each step of the loop
loads ``NV`` vectors of ``B`` and ``MR`` single numbers of ``A`` (each broadcast to a vector) and issues
``MR * NV`` fused multiply-adds: 14 x 2 = 28 FMAs per 16 loads with the default tile. A CPU with two FMA
units and a 4-cycle FMA latency needs at least 8 independent accumulators to stay busy; 28 hide it with
room to spare, and 28 + 2 (``B``) + 1 (broadcast) fit AVX-512's 32 vector registers. That is the
micro-kernel of every fast GEMM (Goto & van de Geijn, *Anatomy of High-Performance Matrix Multiplication*,
2008) and of oneDNN's direct convolutions, which Keras runs on.

Why it is written in LLVM IR
----------------------------
Numba compiles plain loops through LLVM, whose vectoriser handles one loop at a time. Written as Python
loops over ``p`` and ``v``, the tile either vectorises the channel loop and keeps ``acc`` in memory (a load
and a store per FMA), or unrolls into scalars that the SLP vectoriser does not pack back
(``benchmarks/probe_direct_conv.py`` measured both well below im2col + BLAS; figures in ``benchmarks/README.md``).
So :func:`tile` emits the vector code itself, through ``numba.extending.intrinsic``: its ``codegen`` builds
the LLVM IR of the loop nest above with ``<VL x float>`` values, ``llvm.fma`` and a broadcast
(``shufflevector`` of one number), and Numba inlines it into the calling kernel. LLVM still allocates the
registers, schedules and picks the instructions for the CPU it runs on (``VL * NV`` numbers is one
vector block of ``VECTOR_BYTES``; on a CPU with narrower vectors LLVM splits them, still correct).

Editing this file: Numba's on-disk cache (``cache=True``) keys a compiled kernel on the source file of the
kernel that calls :func:`tile` (``numba_direct.py``, ``numba_dense.py``), not on this one. After changing the
IR here, delete ``tinycnn/kernels/__pycache__/*.nbi`` (or touch those files), or the old code keeps running.

Limits: ``a``, ``b``, ``c`` (and ``bias``) must share one float dtype; nothing checks bounds, so the callers
compute every offset from the array shapes (:func:`tile_numpy` checks them, and the tests run both on the
walks the callers make). ``NUMBA_DISABLE_JIT=1`` cannot run IR: the engine then takes the im2col route.
"""

import typing
from collections.abc import Sequence

import llvmlite.binding as llvm_binding
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..hints import Array

__all__ = [
    "VECTOR_BYTES",
    "TILE_ROWS",
    "TILE_VECTORS",
    "INIT_ZERO",
    "INIT_LOAD",
    "INIT_BIAS",
    "TileWalk",
    "lanes",
    "tile",
    "tile_numpy",
    "run_tile",
    "rows_for",
    "enabled",
]


def _host_vector_bytes() -> int:
    """Width of the host's SIMD registers in bytes: 64 with AVX-512, 32 with AVX2, else 16."""
    try:
        llvm_binding.initialize_native_target()
        features = llvm_binding.get_host_cpu_features()
    except Exception:  # pragma: no cover - exotic platforms
        return 16
    if features.get("avx512f", False):
        return 64
    if features.get("avx2", False):
        return 32
    return 16


#: Bytes in one SIMD register of this CPU (a vector holds ``VECTOR_BYTES // itemsize`` numbers).
VECTOR_BYTES = _host_vector_bytes()
#: Row counts of the tiles compiled (the callers split a row of ``W`` pixels greedily into these).
#: 14 rows x 2 vectors = 28 accumulators suit AVX-512's 32 registers; AVX2 has 16, hence 6 there.
TILE_ROWS = (14, 8, 7, 4, 2, 1) if VECTOR_BYTES >= 64 else (6, 4, 2, 1)
#: Vectors per tile row: 2, and 1 for a leftover block of channels.
TILE_VECTORS = (2, 1)

#: ``init`` codes of a tile: start the accumulators from zero, from ``c`` (accumulate), or from ``bias``.
INIT_ZERO, INIT_LOAD, INIT_BIAS = 0, 1, 2


def lanes(itemsize: int) -> int:
    """Numbers of ``itemsize`` bytes in one vector: 16 float32 or 8 float64 with AVX-512."""
    return VECTOR_BYTES // itemsize


class TileWalk(typing.NamedTuple):
    """Where one tile reads and writes: the integer arguments of :func:`tile`, by name (element offsets into
    the flat arrays, strides and loop counts; see the loop nest in the module docstring).

    ``a[a_start + i1*a_step1 + i2*a_step2 + i3*a_step3 + p*a_row]`` is row ``p`` of step ``(i1, i2, i3)``;
    ``b[b_start + i1*b_step1 + i2*b_step2 + i3*b_step3 : ... + NV*VL]`` its vectors of ``B``;
    ``c[c_start + p*c_row : ... + NV*VL]`` where row ``p`` of the tile is written; ``init`` one of
    ``INIT_ZERO``, ``INIT_LOAD``, ``INIT_BIAS`` (then the accumulators start at
    ``bias[bias_start : bias_start + NV*VL]``).
    """

    a_start: int
    a_row: int
    a_step1: int
    a_step2: int
    a_step3: int
    count1: int
    count2: int
    count3: int
    b_start: int
    b_step1: int
    b_step2: int
    b_step3: int
    c_start: int
    c_row: int
    init: int
    bias_start: int


#: Index of each field in :class:`TileWalk` (the IR below reads them by position).
_FIELD = {name: k for k, name in enumerate(TileWalk._fields)}


@intrinsic
def tile(typingctx, rows, vectors, a, b, c, bias, walk):
    """One ``rows`` x ``vectors`` tile of a strided matrix product (see the module docstring).

    Call it from an ``njit`` function as ``tile(rows, vectors, a, b, c, bias, TileWalk(...))``.
    ``rows`` must be one of ``TILE_ROWS`` and ``vectors`` one of ``TILE_VECTORS``; each pair is compiled as
    its own block of vector code and the pair picks one at run time. Any other pair raises ``ValueError``
    (inside a ``prange`` loop Numba reports it as a ``SystemError`` caused by that ``ValueError``).
    ``a, b, c, bias`` are 1-D arrays of one float dtype; ``walk`` is a :class:`TileWalk` of integers.
    :func:`tile_numpy` is the same loop nest in NumPy.
    """
    arrays = (a, b, c, bias)
    if not all(isinstance(t, types.Array) and t.ndim == 1 for t in arrays):
        return None
    if len({t.dtype for t in arrays}) != 1 or a.dtype not in (types.float32, types.float64):
        return None
    if not (isinstance(walk, types.BaseNamedTuple) and walk.instance_class is TileWalk):
        return None
    sig = types.void(rows, vectors, a, b, c, bias, walk)

    def codegen(context, builder, signature, args):
        tys = signature.args
        rows_value = context.cast(builder, args[0], tys[0], types.intp)
        vectors_value = context.cast(builder, args[1], tys[1], types.intp)
        intp = context.get_value_type(types.intp)
        matched = ir.Constant(ir.IntType(1), 0)
        for mr in TILE_ROWS:
            for nv in TILE_VECTORS:
                chosen = builder.and_(
                    builder.icmp_signed("==", rows_value, ir.Constant(intp, mr)),
                    builder.icmp_signed("==", vectors_value, ir.Constant(intp, nv)),
                )
                matched = builder.or_(matched, chosen)
                with builder.if_then(chosen):
                    _emit_tile(mr, nv, context, builder, tys[2:], args[2:])
        with builder.if_then(builder.not_(matched), likely=False):
            context.call_conv.return_user_exc(builder, ValueError, (UNSUPPORTED,))
        return context.get_dummy_value()

    return sig, codegen


UNSUPPORTED = "unsupported tile shape: rows must be in simd.TILE_ROWS and vectors in simd.TILE_VECTORS"


def _emit_tile(mr, nv, context, builder, tys, args):
    """Emit the LLVM IR of one ``mr`` x ``nv`` tile at the builder's position (at compile time).

    ``tys``/``args`` are those of ``(a, b, c, bias, walk)``.
    """
    walk_type, walk = tys[4], args[4]

    def integer(name):  # field of the TileWalk as a pointer-sized integer
        k = _FIELD[name]
        return context.cast(builder, builder.extract_value(walk, k), walk_type[k], types.intp)

    def data(k):  # pointer to element 0 of array argument k
        return context.make_array(tys[k])(context, builder, value=args[k]).data

    a, b, c, bias = data(0), data(1), data(2), data(3)
    a0, a_row, a1, a2, a3 = (integer(n) for n in ("a_start", "a_row", "a_step1", "a_step2", "a_step3"))
    n1, n2, n3 = (integer(n) for n in ("count1", "count2", "count3"))
    b0, b1, b2, b3 = (integer(n) for n in ("b_start", "b_step1", "b_step2", "b_step3"))
    c0, c_row, init, bias0 = (integer(n) for n in ("c_start", "c_row", "init", "bias_start"))

    dtype = tys[0].dtype
    vl = lanes(dtype.bitwidth // 8)
    elem = context.get_data_type(dtype)
    vec = ir.VectorType(elem, vl)
    intp = context.get_value_type(types.intp)
    align = dtype.bitwidth // 8  # element alignment: rows of B and C need not be vector-aligned

    def const(v):
        return ir.Constant(intp, v)

    def vector_at(base, index):
        return builder.bitcast(builder.gep(base, [index]), vec.as_pointer())

    fma = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{vl}f{dtype.bitwidth}"
    )
    # Accumulators as stack slots in the entry block: LLVM's mem2reg turns them into registers.
    acc = [[cgutils.alloca_once(builder, vec) for _ in range(nv)] for _ in range(mr)]
    c_index = [
        [builder.add(c0, builder.add(builder.mul(c_row, const(p)), const(v * vl))) for v in range(nv)]
        for p in range(mr)
    ]

    with builder.if_else(builder.icmp_signed("==", init, const(INIT_LOAD))) as (load, start):
        with load:
            for p in range(mr):
                for v in range(nv):
                    builder.store(builder.load(vector_at(c, c_index[p][v]), align=align), acc[p][v])
        with start:
            use_bias = builder.icmp_signed("==", init, const(INIT_BIAS))
            for v in range(nv):
                with builder.if_else(use_bias) as (with_bias, zero):
                    with with_bias:
                        value = builder.load(vector_at(bias, builder.add(bias0, const(v * vl))), align=align)
                        for p in range(mr):
                            builder.store(value, acc[p][v])
                    with zero:
                        for p in range(mr):
                            builder.store(ir.Constant(vec, None), acc[p][v])

    undef = ir.Constant(vec, ir.Undefined)
    lane0 = ir.Constant(ir.IntType(32), 0)
    splat = ir.Constant(ir.VectorType(ir.IntType(32), vl), [0] * vl)
    with cgutils.for_range(builder, n1) as loop1:
        ai = builder.add(a0, builder.mul(loop1.index, a1))
        bi = builder.add(b0, builder.mul(loop1.index, b1))
        with cgutils.for_range(builder, n2) as loop2:
            aj = builder.add(ai, builder.mul(loop2.index, a2))
            bj = builder.add(bi, builder.mul(loop2.index, b2))
            with cgutils.for_range(builder, n3) as loop3:
                ak = builder.add(aj, builder.mul(loop3.index, a3))
                bk = builder.add(bj, builder.mul(loop3.index, b3))
                rows_b = [builder.load(vector_at(b, builder.add(bk, const(v * vl))), align=align) for v in range(nv)]
                for p in range(mr):
                    x = builder.load(builder.gep(a, [builder.add(ak, builder.mul(a_row, const(p)))]))
                    xs = builder.shuffle_vector(builder.insert_element(undef, x, lane0), undef, splat)
                    for v in range(nv):
                        builder.store(builder.call(fma, [xs, rows_b[v], builder.load(acc[p][v])]), acc[p][v])

    for p in range(mr):
        for v in range(nv):
            builder.store(builder.load(acc[p][v]), vector_at(c, c_index[p][v]), align=align)


def enabled() -> bool:
    """True when Numba compiles (the tiles are LLVM IR: ``NUMBA_DISABLE_JIT=1`` cannot run them)."""
    return not numba.config.DISABLE_JIT


def tile_numpy(
    rows: int,
    vectors: int,
    a: Array,
    b: Array,
    c: Array,
    bias: Array,
    walk: TileWalk | Sequence[int],
    vector_length: int | None = None,
) -> None:
    """The loop nest of :func:`tile` in NumPy: the same reads, multiply-adds and writes, one row at a time.

    ``acc`` is the ``rows x (vectors * VL)`` block the compiled tile keeps in registers; one step of the
    loop multiplies the ``rows`` numbers of ``a`` it reads (one per tile row, each broadcast over a vector)
    by the same ``vectors * VL`` numbers of ``b``. ``vector_length`` (``VL``) defaults to this CPU's
    (:func:`lanes`). Same arguments as :func:`tile`, checked: an unsupported shape or an offset outside an
    array raises ``ValueError``.
    """
    if rows not in TILE_ROWS or vectors not in TILE_VECTORS:
        raise ValueError(UNSUPPORTED)
    w = TileWalk(*walk)
    width = vectors * (vector_length or lanes(c.itemsize))

    def block(array, start):  # array[start : start + width], refusing to read or write past the end
        if start < 0 or start + width > array.size:
            raise ValueError(f"tile reaches outside an array of {array.size} numbers ({start}..{start + width})")
        return slice(start, start + width)

    acc = np.empty((rows, width), dtype=c.dtype)
    for p in range(rows):
        if w.init == INIT_LOAD:
            acc[p] = c[block(c, w.c_start + p * w.c_row)]
        elif w.init == INIT_BIAS:
            acc[p] = bias[block(bias, w.bias_start)]
        else:
            acc[p] = 0
    for i1 in range(w.count1):
        for i2 in range(w.count2):
            for i3 in range(w.count3):
                ak = w.a_start + i1 * w.a_step1 + i2 * w.a_step2 + i3 * w.a_step3
                bk = w.b_start + i1 * w.b_step1 + i2 * w.b_step2 + i3 * w.b_step3
                b_vectors = b[block(b, bk)]
                for p in range(rows):
                    acc[p] += a[ak + p * w.a_row] * b_vectors  # one FMA per vector in the compiled tile
    for p in range(rows):
        c[block(c, w.c_start + p * w.c_row)] = acc[p]


def _run_tile(rows, vectors, a, b, c, bias, walk):
    """Run one compiled :func:`tile` (for tests and for trying a walk by hand)."""
    tile(rows, vectors, a, b, c, bias, walk)


run_tile = numba.njit(cache=True)(_run_tile)


def _rows_for(remaining):
    """The tallest tile in ``TILE_ROWS`` with at most ``remaining`` rows (the callers split rows greedily)."""
    for rows in TILE_ROWS:
        if rows <= remaining:
            return rows
    return 1


rows_for = numba.njit(cache=True, inline="always")(_rows_for)
