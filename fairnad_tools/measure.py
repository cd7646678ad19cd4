"""Measurement of models: the one place that counts parameters, multiply-accumulates and depth.

Conventions (those of torchvision's model metadata, ``num_params`` and ``_ops``, and of the
NAS-Bench-201 and FairNAD budgets: 1.5 M parameters, 0.2 G MACs per 3x32x32 image):

* **Parameters** (:func:`count_params`) are every parameter of the module tree, trainable or
  frozen (``requires_grad=False``), a parameter shared by several layers once: torchvision's
  ``num_params``. **Model size** (:attr:`ModelSize.total`, what the parameter budget limits)
  adds the tensors outside ``parameters()`` that layers use as weights (:class:`StructureTracer`):
  a buffer or plain tensor attribute that is an operand of a product with the input (a fixed
  projection ``x @ self.proj.t()``, a fixed filter bank in ``F.conv2d``), when it holds more
  numbers than the parameters that operand is also computed from (so a pruning mask or the
  power-iteration vectors of spectral normalisation, which modify a parameter at least their
  size, do not count). Batch-norm running statistics, masks and positional tables that are
  added to or multiplied with activations never count: they are not product operands.
* **MACs** (multiply-accumulates, one per product term) of one forward pass for one image:
  convolutions of any dimension (grouped, depthwise, transposed, dilated), linear layers and
  every matrix product (``mm``, ``addmm``, ``mv``, ``dot``, ``bmm``, ``baddbmm``, ``addbmm``,
  and so ``@``, ``torch.matmul``, ``torch.einsum``, ``torch.tensordot``, which run through
  them), recurrent layers, attention in every form (the QK^T and AV products of each
  ``scaled_dot_product_attention`` kernel (CPU flash, math, CUDA flash, memory-efficient,
  cuDNN), ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` / ``DecoderLayer``
  including their projections, flex attention) and distances (``torch.cdist`` of (B, P, M)
  and (B, R, M): B * P * R * M, whatever the norm; ``torch.pdist`` of (N, M): N(N-1)/2 * M).
  A product of complex tensors counts the real products torch runs for it: 4 per complex
  multiply-accumulate in matrix products (``mm``, ``bmm``, ``einsum``), 3 in convolutions
  (torch computes a complex convolution as three real ones, Gauss's trick). Normalisation,
  activations, pooling, softmax, interpolation, bias additions and other element-wise work
  count zero. A causal mask does not halve the count (as in ``torch.utils.flop_counter``).
* **Depth** (:attr:`Measurement.depth`): weighted layers on the longest path from the input
  to the output, read at the dispatch level (:class:`StructureTracer`).

Counting uses ``torch.utils.flop_counter.FlopCounterMode``, which already holds formulas for
``mm``, ``addmm``, ``bmm``, ``baddbmm``, the convolutions, the CUDA attention kernels and flex
attention, extended with :data:`EXTRA_FORMULAS` for the operators it does not know in torch
2.14.1 (the CPU attention kernel ``_scaled_dot_product_flash_attention_for_cpu``, the fused
fast paths ``_native_multi_head_attention`` and ``_transformer_encoder_layer_fwd``, ``mv``,
``dot``, ``addbmm``, in-place products, ``nn.Bilinear``'s ``_trilinear``, the fused recurrent
kernels, ``conv_tbc``, the distance kernels, sparse products) and, where its formula is wrong, replaced
(``_efficient_attention_forward`` on dense inputs). ``FlopCounterMode`` counts 2 FLOPs per
multiply-accumulate: the formulas here do the same and totals are halved in
:class:`MacCounter`, nowhere else.

Every operator that runs is either counted by a formula or *known* to cost nothing under the
convention (:func:`is_zero_cost_op`: element-wise, reductions, views, copies, factories,
indexing, normalisation, pooling, softmax, interpolation, random sampling). Any other (an
FFT, a linear-algebra solver, a product kernel nobody listed, an operator added in a later
torch) is not guessed at: it counts zero and is *named* in :attr:`MacCount.uncounted`, so a
report says what the total leaves out and no work drops silently.
"""

from __future__ import annotations

import functools
import itertools
import logging
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode, flop_registry
from torch.utils.weak import WeakIdKeyDictionary

log = logging.getLogger(__name__)

aten = torch.ops.aten

OperatorKind = Literal["conv", "linear", "matmul", "attention", "distance", "outer_product", "other"]
"""Families of counted operators, the keys of :attr:`MacCount.by_operator`:
``conv`` convolutions; ``linear`` products of a matrix with a 2-D matrix or a vector (``mm``,
``addmm``, ``mv``, ``dot``: ``nn.Linear``, ``x @ W`` on any leading dimensions, ``nn.Bilinear``,
the gate products of recurrent layers, fused or not);
``matmul`` batched products (``bmm``, ``baddbmm``, ``addbmm``: ``einsum`` and batched ``@``, as in
hand-written attention); ``attention`` fused attention kernels (for ``nn.MultiheadAttention``
only QK^T and AV: its projections run as ``linear`` while counting; a fused kernel called directly
counts whole); ``distance`` ``torch.cdist`` and ``torch.pdist``; ``outer_product`` a multiplication
whose operands are both broadcast to a larger result (``(t.unsqueeze(-1) * w).sum(2)``, a product
written by hand; ``torch.outer``; an ``einsum`` term with nothing to sum); ``other`` any further
formula registered with torch's counter."""

DEFAULT_IMAGES = 5
"""Images per measurement: MACs are the largest count over these (see :func:`sample_images`)."""


# -- formulas (in FLOPs, 2 per multiply-accumulate, as torch.utils.flop_counter counts) ----------
def _flops(macs: int | float) -> int:
    return 2 * int(macs)


def _mm(a: Sequence[int], b: Sequence[int]) -> int:
    """(m, k) @ (k, n): m * k * n MACs."""
    return _flops(a[0] * a[1] * b[-1])


def _attention_macs(query: Sequence[int], key: Sequence[int], value: Sequence[int]) -> int:
    """QK^T and AV for query (..., L, E), key (..., S, E), value (..., S, Ev): batch * L * S * (E + Ev).

    Leading dimensions are the query's (grouped-query attention broadcasts key and value heads).
    """
    batch = math.prod(query[:-2])
    return batch * query[-2] * key[-2] * (query[-1] + value[-1])


def _sdpa_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:
    return _flops(_attention_macs(query, key, value))


def _mha_macs(query: Sequence[int], key: Sequence[int], embed_dim: int) -> int:
    """Multi-head attention with in- and out-projections, query (..., L, E), key/value (..., S, E).

    In-projections batch * E * E * (L + 2S), attention batch * L * S * 2E, out-projection
    batch * L * E * E (the sum over heads of h * L * S * (E/h) is L * S * E).
    """
    batch = math.prod(query[:-2])
    length, source = query[-2], key[-2]
    projections = batch * embed_dim * embed_dim * (2 * length + 2 * source)
    return projections + batch * length * source * 2 * embed_dim


def _native_mha_flop(query, key, value, embed_dim, *args, out_shape=None, **kwargs) -> int:
    return _flops(_mha_macs(query, key, embed_dim))


def _encoder_layer_flop(
    src,
    embed_dim,
    num_heads,
    qkv_weight,
    qkv_bias,
    proj_weight,
    proj_bias,
    use_gelu,
    norm_first,
    eps,
    norm_weight_1,
    norm_bias_1,
    norm_weight_2,
    norm_bias_2,
    ffn_weight_1,
    ffn_bias_1,
    ffn_weight_2,
    *args,
    out_shape=None,
    **kwargs,
) -> int:
    """Fused encoder layer: self-attention as :func:`_mha_macs` plus the two feed-forward linears."""
    tokens = math.prod(src[:-1])
    return _flops(_mha_macs(src, src, embed_dim) + tokens * (math.prod(ffn_weight_1) + math.prod(ffn_weight_2)))


def _addmm_flop(self_shape, a, b, *args, out_shape=None, **kwargs) -> int:
    return _mm(a, b)


def _mm_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return _mm(a, b)


def _mv_flop(matrix, vector, *args, out_shape=None, **kwargs) -> int:
    return _flops(math.prod(matrix))


def _addmv_flop(self_shape, matrix, vector, *args, out_shape=None, **kwargs) -> int:
    return _flops(math.prod(matrix))


def _dot_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return _flops(math.prod(a))


def _baddbmm_flop(self_shape, a, b, *args, out_shape=None, **kwargs) -> int:
    """(b, n, m) @ (b, m, p): b * n * m * p MACs (``addbmm`` sums the batch afterwards, same cost)."""
    return _flops(a[0] * a[1] * a[2] * b[2])


def _trilinear_flop(i1, i2, i3, expand1, expand2, expand3, sumdim, *args, out_shape=None, **kwargs) -> int:
    """``_trilinear`` (``nn.Bilinear``): one MAC per element of the broadcast product of the three inputs.

    For ``F.bilinear`` with input (N, I1), weight (O, I1, I2), input (N, I2) that is N * O * I1 * I2.
    """
    dims = len(i1) + len(expand1)
    sizes = [1] * dims
    for shape, expand in ((i1, expand1), (i2, expand2), (i3, expand3)):
        full = list(shape)
        for d in sorted(expand):
            full.insert(d, 1)
        sizes = [max(s, f) for s, f in zip(sizes, full, strict=True)]
    return _flops(math.prod(sizes))


def _mkldnn_rnn_flop(input, weight0, weight1, *args, out_shape=None, **kwargs) -> int:
    """One fused RNN layer (one direction): each time step of each sequence multiplies the input-to-
    hidden (G*H, I) and hidden-to-hidden (G*H, H) matrices once: steps * batch * (G*H*I + G*H*H)."""
    steps_batch = math.prod(input) // weight0[1]
    return _flops(steps_batch * (math.prod(weight0) + math.prod(weight1)))


def _cudnn_rnn_flop(input, weight, *args, out_shape=None, **kwargs) -> int:
    """Fused cuDNN / MIOpen RNN: steps * batch * the size of every weight matrix (all layers and
    directions; input (T, B, I), (B, T, I) or packed (sum of lengths, I)); biases are not products."""
    steps_batch = math.prod(input[:-1])
    return _flops(steps_batch * sum(math.prod(w) for w in weight if len(w) == 2))


def _efficient_attention_forward_flop(query, key, value, bias, cu_seqlens_q, *args, **kwargs) -> int:
    """``_efficient_attention_forward`` (tensors, not shapes): its dense inputs are (B, M, H, K), which
    torch 2.14.1's own formula reads as (B, H, M, K); packed (nested) inputs go to torch's formula."""
    if cu_seqlens_q is not None:
        return flop_registry[aten._efficient_attention_forward](query, key, value, bias, cu_seqlens_q, *args, **kwargs)
    q, k, v = (tuple(t.shape) for t in (query, key, value))
    heads_first = [(*s[:-3], s[-2], s[-3], s[-1]) for s in (q, k, v)]
    return _flops(_attention_macs(*heads_first))


_efficient_attention_forward_flop._get_raw = True  # FlopCounterMode passes tensors


def _conv_tbc_flop(input, weight, bias, pad=0, *args, out_shape=None, **kwargs) -> int:
    """``conv_tbc``: input (T, B, Cin), weight (K, Cin, Cout): T_out * B * K * Cin * Cout."""
    steps = input[0] + 2 * pad - weight[0] + 1
    return _flops(max(0, steps) * input[1] * math.prod(weight))


def _distance_macs(x1: Sequence[int], x2: Sequence[int]) -> int:
    """(..., P, M) against (..., R, M): batch * P * R * M (one product or difference term per pair and feature)."""
    batch = math.prod(torch.broadcast_shapes(tuple(x1[:-2]), tuple(x2[:-2])))
    return batch * x1[-2] * x2[-2] * x1[-1]


def _cdist_flop(x1, x2, *args, out_shape=None, **kwargs) -> int:
    return _flops(_distance_macs(x1, x2))


def _pdist_flop(input, *args, out_shape=None, **kwargs) -> int:
    """``torch.pdist`` of (N, M): N(N-1)/2 pairs of M features."""
    rows = input[0]
    return _flops(rows * (rows - 1) // 2 * input[1])


def _sparse_addmm_flop(self, mat1, mat2, *args, **kwargs) -> int:
    """``torch.sparse.mm`` / ``torch.sparse.addmm`` (tensors, not shapes): one MAC per stored element of
    the sparse matrix and column of the dense one, nnz * p (a dense first operand: m * k * p)."""
    columns = mat2.shape[-1]
    if mat1.layout == torch.sparse_coo:
        return _flops(mat1._nnz() * columns)
    return _flops(math.prod(mat1.shape) * columns)


_sparse_addmm_flop._get_raw = True


def _outer_product_macs(a: Any, b: Any) -> int:
    """``a * b`` with both operands broadcast to a larger result (an outer product): one MAC per
    element of the result; 0 for element-wise work (one operand already the result's size, such as
    a scale, gate or mask, or a scalar)."""
    if not isinstance(a, Sequence) or not isinstance(b, Sequence):
        return 0
    try:
        out = math.prod(torch.broadcast_shapes(tuple(a), tuple(b)))
    except RuntimeError:
        return 0
    return out if out > max(math.prod(a), math.prod(b)) else 0


def _mul_flop(a, b, *args, out_shape=None, **kwargs) -> int:
    return _flops(_outer_product_macs(a, b))


def _affine_grid_flop(theta, size, *args, out_shape=None, **kwargs) -> int:
    """``F.affine_grid``: theta (N, 2, 3) applied to every output position (H * W of them; D * H * W
    with theta (N, 3, 4)): N * positions * rows * columns MACs."""
    return _flops(theta[0] * math.prod(size[2:]) * theta[1] * theta[2])


def _zero_flop(*args: Any, **kwargs: Any) -> int:
    return 0


EXTRA_FORMULAS: dict[Any, Callable[..., int]] = {
    aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_flop,
    aten._scaled_dot_product_fused_attention_overrideable: _sdpa_flop,
    aten._scaled_dot_product_attention_math_for_mps: _sdpa_flop,
    aten._efficient_attention_forward: _efficient_attention_forward_flop,
    aten._native_multi_head_attention: _native_mha_flop,
    aten._transformer_encoder_layer_fwd: _encoder_layer_flop,
    aten.addmm_: _addmm_flop,
    aten._addmm_activation: _addmm_flop,
    aten._int_mm: _mm_flop,
    aten.mv: _mv_flop,
    aten.addmv: _addmv_flop,
    aten.addmv_: _addmv_flop,
    aten.dot: _dot_flop,
    aten.vdot: _dot_flop,
    aten.addbmm: _baddbmm_flop,
    aten.addbmm_: _baddbmm_flop,
    aten.baddbmm_: _baddbmm_flop,
    aten._trilinear: _trilinear_flop,
    aten.mkldnn_rnn_layer: _mkldnn_rnn_flop,
    aten._cudnn_rnn: _cudnn_rnn_flop,
    aten.miopen_rnn: _cudnn_rnn_flop,
    aten.conv_tbc: _conv_tbc_flop,
    aten._cdist_forward: _cdist_flop,
    aten._euclidean_dist: _cdist_flop,
    aten._pdist_forward: _pdist_flop,
    aten._sparse_addmm: _sparse_addmm_flop,
    aten.mul: _mul_flop,
    aten.affine_grid_generator: _affine_grid_flop,
    # element-wise LSTM / GRU cells (the gate products run as mm before them): known, zero
    aten._thnn_fused_lstm_cell: _zero_flop,
    aten._thnn_fused_gru_cell: _zero_flop,
}
"""Formulas ``torch.utils.flop_counter`` lacks in torch 2.14.1, keyed by ATen operator, in its
calling convention (shapes in place of tensors, FLOPs = 2 * MACs)."""

_KINDS: dict[str, OperatorKind] = {
    **dict.fromkeys(
        (
            "convolution",
            "_convolution",
            "cudnn_convolution",
            "_slow_conv2d_forward",
            "convolution_overrideable",
            "conv_tbc",
        ),
        "conv",
    ),
    **dict.fromkeys(
        (
            "mm",
            "addmm",
            "addmm_",
            "_addmm_activation",
            "_scaled_mm",
            "_int_mm",
            "mv",
            "addmv",
            "addmv_",
            "dot",
            "vdot",
            "_trilinear",
            "mkldnn_rnn_layer",
            "_cudnn_rnn",
            "miopen_rnn",
            "_thnn_fused_lstm_cell",
            "_thnn_fused_gru_cell",
            "_sparse_addmm",
        ),
        "linear",
    ),
    **dict.fromkeys(("bmm", "baddbmm", "baddbmm_", "addbmm", "addbmm_", "affine_grid_generator"), "matmul"),
    "mul": "outer_product",
    **dict.fromkeys(("_native_multi_head_attention", "_transformer_encoder_layer_fwd"), "attention"),
    **dict.fromkeys(("_cdist_forward", "_euclidean_dist", "_pdist_forward"), "distance"),
}


def operator_kind(name: str) -> OperatorKind:
    """The :data:`OperatorKind` of a counted operator, by ATen name (``aten.bmm`` -> ``matmul``)."""
    short = name.rsplit(".", 1)[-1]
    if short in _KINDS:
        return _KINDS[short]
    if "attention" in short or "flex" in short:
        return "attention"
    if "conv" in short:
        return "conv"
    return "other"


# -- operators known to cost nothing under the convention -----------------------------------------
def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Besides these names, every ATen operator that torch tags element-wise (``pointwise``), as a
# reduction, as random sampling (``nondeterministic_seeded``) or as a view is known zero-cost.
ZERO_COST_OPS: frozenset[str] = frozenset(
    _names("""
    native_batch_norm _native_batch_norm_legit _native_batch_norm_legit_no_training
    _native_batch_norm_legit_functional _batch_norm_with_update _batch_norm_no_update batch_norm_stats
    batch_norm_elemt batch_norm_gather_stats batch_norm_gather_stats_with_counts cudnn_batch_norm
    miopen_batch_norm native_layer_norm native_group_norm _fused_rms_norm linalg_vector_norm norm renorm
    _weight_norm_interface _softmax _log_softmax _safe_softmax _masked_softmax glu _prelu_kernel
    log_sigmoid_forward rrelu_with_noise hardtanh threshold softplus elu leaky_relu hardswish hardswish_ mish_
    floor_divide isin dist trace
    max_pool1d max_pool2d max_pool3d max_pool2d_with_indices max_pool3d_with_indices max_pool1d_with_indices
    avg_pool1d avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d
    _adaptive_avg_pool2d _adaptive_avg_pool3d adaptive_max_pool1d adaptive_max_pool2d adaptive_max_pool3d
    fractional_max_pool2d fractional_max_pool3d max_unpool2d max_unpool3d mkldnn_max_pool2d
    sum mean amax amin max min aminmax argmax argmin prod cumsum cumprod cummax cummin logcumsumexp
    logsumexp var std var_mean std_mean any all count_nonzero sort argsort topk kthvalue median nanmedian
    mode _unique _unique2 unique_consecutive unique_dim bincount histc nansum nanmean
    view _unsafe_view reshape _reshape_alias _reshape_copy permute transpose t expand squeeze unsqueeze
    slice select as_strided unbind split split_with_sizes unsafe_split unsafe_split_with_sizes chunk
    unsafe_chunk narrow diagonal alias detach lift_fresh lift_fresh_copy view_as_real view_as_complex
    unfold real imag conj _conj _conj_physical conj_physical resolve_conj resolve_neg _neg_view movedim
    flatten unflatten contiguous clone _to_copy copy copy_ _copy_from _copy_from_and_resize to_dense
    _to_dense _to_sparse to_sparse _to_sparse_csr _to_sparse_csc _to_sparse_bsr _to_sparse_bsc
    _nested_tensor_from_tensor_list _nested_tensor_from_mask _nested_from_padded
    _nested_from_padded_and_nested_example _nested_view_from_buffer _nested_view_from_buffer_copy
    _nested_tensor_size _nested_tensor_strides _nested_tensor_storage_offsets _nested_get_values
    to_padded_tensor _coalesce coalesce _indices _values indices values _nnz sparse_dim dense_dim
    _sparse_coo_tensor_with_dims_and_tensors _sparse_coo_tensor_unsafe sparse_resize_
    quantize_per_tensor quantize_per_tensor_dynamic quantize_per_channel dequantize int_repr q_scale
    q_zero_point q_per_channel_scales q_per_channel_zero_points _make_per_tensor_quantized_tensor
    _make_per_channel_quantized_tensor fake_quantize_per_tensor_affine fake_quantize_per_tensor_affine_cachemask
    _fake_quantize_per_tensor_affine_cachemask_tensor_qparams fake_quantize_per_channel_affine
    fake_quantize_per_channel_affine_cachemask _fake_quantize_learnable_per_tensor_affine
    _fake_quantize_learnable_per_channel_affine _fused_moving_avg_obs_fq_helper fused_moving_avg_obs_fake_quant
    _choose_qparams_per_tensor choose_qparams_optimized
    fill fill_ zero_ zeros zeros_like ones ones_like empty empty_like empty_strided empty_permuted full
    full_like new_empty new_empty_strided new_zeros new_ones new_full arange linspace logspace eye hann_window
    hamming_window blackman_window bartlett_window kaiser_window
    scalar_tensor _efficientzerotensor resize_ resize_as_ set_ _local_scalar_dense item _assert_async
    _assert_scalar _functional_assert_async _functional_assert_scalar _assert_tensor_metadata _linalg_check_errors
    sym_constrain_range sym_constrain_range_for_size _print is_nonzero equal allclose isclose
    is_same_size _has_compatible_shallow_copy_type result_type record_stream _pin_memory _is_all_true _is_any_true
    profiler._record_function_enter profiler._record_function_enter_new profiler._record_function_exit
    native_dropout dropout feature_dropout alpha_dropout feature_alpha_dropout _fused_dropout
    index _unsafe_index index_put index_put_ _index_put_impl_ _unsafe_index_put _unsafe_masked_index
    _unsafe_masked_index_put_accumulate gather scatter scatter_ scatter_add scatter_add_ scatter_reduce
    scatter_reduce_ index_select index_add index_add_ index_copy index_copy_ index_fill index_fill_
    index_reduce index_reduce_ masked_fill masked_fill_ masked_select masked_scatter masked_scatter_
    nonzero nonzero_static argwhere take take_along_dim put put_ embedding _embedding_bag
    _embedding_bag_forward_only embedding_renorm_ one_hot roll flip rot90 repeat tile repeat_interleave
    cat _cat stack constant_pad_nd pad reflection_pad1d reflection_pad2d reflection_pad3d
    replication_pad1d replication_pad2d replication_pad3d _pad_circular _pad_enum channel_shuffle
    native_channel_shuffle pixel_shuffle pixel_unshuffle im2col col2im tril triu tril_ triu_ diag
    diag_embed diagflat tril_indices triu_indices block_diag bucketize searchsorted where clamp
    as_strided_scatter slice_scatter select_scatter diagonal_scatter _pack_padded_sequence
    _pad_packed_sequence _chunk_cat split_copy unbind_copy complex polar lerp lerp_ addcmul addcdiv
    upsample_nearest1d upsample_nearest2d upsample_nearest3d _upsample_nearest_exact1d
    _upsample_nearest_exact2d _upsample_nearest_exact3d upsample_linear1d upsample_bilinear2d
    _upsample_bilinear2d_aa upsample_bicubic2d _upsample_bicubic2d_aa upsample_trilinear3d
    grid_sampler grid_sampler_2d grid_sampler_3d cudnn_grid_sampler
    isfinite isnan isinf isneginf isposinf nan_to_num nll_loss_forward nll_loss2d_forward nll_loss_nd
    mse_loss l1_loss smooth_l1_loss huber_loss binary_cross_entropy binary_cross_entropy_with_logits
    soft_margin_loss kl_div _thnn_fused_lstm_cell _thnn_fused_gru_cell
    size sym_size stride sym_stride numel sym_numel dim storage_offset sym_storage_offset is_contiguous
    sym_is_contiguous is_strides_like_format is_non_overlapping_and_dense
    """)
)
"""Operators known to cost nothing under the counting convention: ATen ones by short name, others
(the profiler's markers) by full name; beside them, the ATen operators torch tags element-wise,
reduction, random sampling or view (see :func:`is_zero_cost_op`)."""

_ZERO_COST_TAGS = frozenset(
    {
        torch.Tag.pointwise,
        torch.Tag.reduction,
        torch.Tag.nondeterministic_seeded,
        torch.Tag.view_copy,
        torch.Tag.inplace_view,
    }
)
_ZERO_COST_VERDICTS: dict[Any, bool] = {}


def is_zero_cost_op(op: Any) -> bool:
    """Whether an ATen operator (an ``OpOverloadPacket`` such as ``aten.relu``, or its name,
    ``"aten.relu"``) is known to cost nothing under the convention: listed in
    :data:`ZERO_COST_OPS`, or tagged by torch as element-wise, a reduction, random sampling or a
    view. Operators of other namespaces (``quantized``, ``prims``, custom ones) are not known."""
    verdict = _ZERO_COST_VERDICTS.get(op)
    if verdict is None:
        verdict = _ZERO_COST_VERDICTS[op] = _zero_cost(op)
    return verdict


def _zero_cost(op: Any) -> bool:
    name = op if isinstance(op, str) else str(op)
    namespace, _, short = name.rpartition(".")
    if name in ZERO_COST_OPS:  # an operator of another namespace, listed by its full name
        return True
    if namespace not in ("aten", ""):
        return False
    if short in ZERO_COST_OPS:
        return True
    packet = getattr(aten, short, None) if isinstance(op, str) else op
    if packet is None:
        return False
    try:
        overloads = [getattr(packet, o) for o in packet.overloads()]
    except (AttributeError, RuntimeError):
        return False
    return any(o.is_view or _ZERO_COST_TAGS.intersection(o.tags) for o in overloads)


# -- counting ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulates of one forward pass.

    ``total`` equals the sum of ``by_operator`` (MACs per :data:`OperatorKind`, kinds with none
    left out); ``uncounted`` names operators that ran without a formula and are not known to
    cost nothing (counted 0). ``weight_only`` are the MACs of products computed from the model's
    stored tensors alone (a parametrization rebuilding its weight, spectral normalisation's power
    iteration): the same for a batch of any size, so not a cost per image and not in ``total``.
    """

    total: int
    by_operator: dict[str, int] = field(default_factory=dict)
    uncounted: tuple[str, ...] = ()
    weight_only: int = 0


def _has_complex(args: Any, kwargs: Any) -> bool:
    return any(isinstance(t, torch.Tensor) and t.is_complex() for t in tree_leaves((args, kwargs)))


class MacCounter(FlopCounterMode):
    """Context manager that counts the MACs of whatever runs inside it (see the module docstring).

    ::

        with MacCounter() as counter:
            model(x)
        counter.result()  # MacCount(total=..., by_operator={...}, uncounted=(...))

    A ``FlopCounterMode`` with :data:`EXTRA_FORMULAS`, which also notes every operator that runs
    without a formula and is not known to cost nothing (:func:`is_zero_cost_op`), and counts an
    operator with complex operands as 4 real products per complex one (a complex convolution
    reaches the counter as the three real ones torch runs). ``_count_flops`` is torch's own
    (2.14.1), which the counter calls for each operator it runs after decomposition, with those
    two additions. Counts what actually runs: a fused kernel such as
    ``_native_multi_head_attention`` counts under ``attention`` as a whole; :func:`measure` turns
    torch's fused fast path off so that projections count as ``linear`` in every mode.

    After :meth:`track` (the pass's input and the model's stored tensors) the counter follows
    where each tensor comes from: *data* (computed from the input) or *weight* (computed from
    stored tensors alone). Products whose operands are all weights run once per forward pass
    whatever the batch size: they go to :attr:`MacCount.weight_only`, not to the total, and an
    operator without a formula among them is not named. Anything of another origin counts as
    data: a tensor made inside ``forward`` (``torch.zeros(x.size(0), h)``, a recurrent layer's
    initial state, ``torch.eye``), one the model did not store, one rebuilt from Python numbers.
    When the output of the pass (:meth:`finish`) is not computed from the input, the tracking is
    not trusted and every product counts.
    """

    def __init__(self) -> None:
        super().__init__(display=False, custom_mapping=EXTRA_FORMULAS)
        self.uncounted: Counter[str] = Counter()
        self.weight_only: Counter[Any] = Counter()
        self._weight_uncounted: Counter[str] = Counter()
        self._origin: WeakIdKeyDictionary | None = None
        self._traced = True

    def __enter__(self) -> MacCounter:
        self.uncounted.clear()
        self.weight_only.clear()
        self._weight_uncounted.clear()
        super().__enter__()
        return self

    def track(self, inputs: torch.Tensor, stored: Iterable[torch.Tensor]) -> None:
        """Follow origins from here on: ``inputs`` is data, ``stored`` (the model's parameters,
        buffers and tensor attributes, :func:`stored_tensors`) are weights."""
        self._origin = WeakIdKeyDictionary()
        for tensor in stored:
            self._origin[tensor] = _WEIGHT
        self._origin[inputs] = _DATA

    def finish(self, output: Any) -> None:
        """End a tracked pass whose result is ``output``: products on weights alone stay apart
        only when the output is computed from the input."""
        self._traced = self._origin is None or any(self._origin_of(t) == _DATA for t in _tensors(output))
        self._origin = None

    def _origin_of(self, tensor: torch.Tensor) -> int | None:
        assert self._origin is not None
        own = self._origin.get(tensor)
        base = tensor._base
        if base is not None and own != _DATA:
            below = self._origin.get(base)
            if below == _DATA or own is None:
                return below
        return own

    def _per_image(self, out: Any, args: Any, kwargs: Any) -> bool:
        """Tag the operator's outputs with their origin; whether its products are per image."""
        assert self._origin is not None
        origins = [self._origin_of(t) for t in _tensors((args, kwargs))]
        if _DATA in origins:
            origin: int | None = _DATA
        elif origins and all(o == _WEIGHT for o in origins):
            origin = _WEIGHT
        else:
            origin = None
        if origin is not None:
            for tensor in _tensors(out):
                for t in (tensor, tensor._base):
                    if t is not None and (origin == _DATA or t not in self._origin):
                        self._origin[t] = origin
        return origin != _WEIGHT

    def _count_flops(self, func_packet, out, args, kwargs):
        per_image = self._origin is None or self._per_image(out, args, kwargs)
        formula = self.flop_registry.get(func_packet)
        if formula is None:
            if not is_zero_cost_op(func_packet):
                (self.uncounted if per_image else self._weight_uncounted)[str(func_packet)] += 1
            return out
        flops = formula(*args, **kwargs, out_val=out)
        if flops and _has_complex(args, kwargs):
            flops *= 4  # (a + bi)(c + di): four real products
        if not per_image:
            self.weight_only[func_packet] += flops
            return out
        for parent in set(self.mod_tracker.parents):
            self.flop_counts[parent][func_packet] += flops
        return out

    def result(self) -> MacCount:
        """The count so far, in MACs (FLOPs halved)."""
        by_kind: Counter[str] = Counter()
        counts = Counter(self.get_flop_counts().get("Global", {}))
        uncounted = set(self.uncounted)
        if not self._traced:
            counts.update(self.weight_only)
            uncounted.update(self._weight_uncounted)
        for op, flops in counts.items():
            by_kind[operator_kind(str(op))] += int(flops) // 2
        by_operator = {kind: macs for kind, macs in sorted(by_kind.items()) if macs}
        weight_only = 0 if not self._traced else sum(int(f) // 2 for f in self.weight_only.values())
        return MacCount(sum(by_operator.values()), by_operator, tuple(sorted(uncounted)), weight_only)


_DATA, _WEIGHT = 1, 2  # origins of tensors followed by MacCounter.track


# -- sample images -------------------------------------------------------------------------------
SAMPLE_IMAGES: tuple[tuple[str, float, float], ...] = (
    ("noise", 0.0, 1.0),
    ("noise", -1.0, 0.3),
    ("noise", 1.0, 2.0),
    ("smooth", 4.0, 1.0),
    ("smooth", 8.0, 1.0),
)
"""What :func:`sample_images` draws, in order (the first ``images`` of them, then again with new
draws): ``("noise", offset, spread)`` normal pixels with that mean and standard deviation (plain,
dark and flat, bright and high-contrast: a dataset normalised by its channel statistics holds
images whose own spread ranges from about 0.2 to 2); ``("smooth", k, 1.0)`` a natural-looking
image (:func:`smooth_image`) from noise at 1/k of the resolution."""

_SMOOTH_LIMIT = 2.1  # a white pixel of CIFAR normalised by its channel statistics: (1 - 0.49) / 0.25
_GRAIN = {4.0: 0.25, 8.0: 0.1}  # fine texture on the smooth images, relative to their spread


def smooth_image(low: torch.Tensor, shared: torch.Tensor, grain: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """A natural-looking normalised image of ``size`` (spatial) from low-resolution noise.

    ``low`` (C, *coarse) per-channel noise and ``shared`` (1, *coarse) noise common to the channels
    (colour channels of photographs are correlated) are mixed, upsampled (linear, bilinear or
    trilinear), given fine ``grain`` (C, *size) scaled by ``_GRAIN``'s factor, normalised per channel
    to zero mean and unit variance, and squashed smoothly into +-2.1 (``2.1 * tanh(x / 2.1)``), the
    range of a dataset normalised by its channel statistics. At 32x32 from 8x8 noise: maximum about
    1.9, neighbouring-pixel difference about 0.35, as CIFAR images normalised (noise: about 4 and 1.1).
    """
    mixed = 0.6 * low + 0.8 * shared
    spatial = len(size)
    if spatial in (1, 2, 3):
        mode = ("linear", "bilinear", "trilinear")[spatial - 1]
        mixed = F.interpolate(mixed.unsqueeze(0), size=tuple(size), mode=mode, align_corners=False).squeeze(0)
    dims = tuple(range(1, mixed.dim()))
    if dims:
        mixed = mixed + grain * mixed.std(dim=dims, keepdim=True)
        mixed = (mixed - mixed.mean(dim=dims, keepdim=True)) / mixed.std(dim=dims, keepdim=True).clamp_min(1e-6)
    return _SMOOTH_LIMIT * torch.tanh(mixed / _SMOOTH_LIMIT)


def sample_images(
    input_shape: Sequence[int],
    images: int = DEFAULT_IMAGES,
    *,
    seed: int = 0,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    natural: bool = False,
) -> torch.Tensor:
    """Inputs like the normalised images a model will see: (images, C, H, W), of the kinds of
    :data:`SAMPLE_IMAGES` in order.

    The first three are normal pixels: mean 0 and spread 1, dark (mean -1) and flat (spread
    0.3), bright (mean 1) and high-contrast (spread 2) (noise: large values and sharp edges); the
    next two are smooth natural-looking images (:func:`smooth_image`: bounded values, small
    differences between neighbouring pixels). A gate, early exit or routing that keys on the
    input's statistics (its range, brightness, contrast, smoothness) sees both sides.
    ``images=1`` is the plain noise image; ``natural=True`` draws only smooth images (alternately
    from 1/4 and 1/8 of the resolution), like a batch of real data. A private generator seeded
    with ``seed`` makes the images the same on every call without touching
    torch's global random state.
    """
    if images < 1:
        raise ValueError(f"images must be at least 1 (got {images})")
    gen = torch.Generator().manual_seed(seed)
    channels, size = input_shape[0], tuple(input_shape[1:])
    kinds = [kind for kind in SAMPLE_IMAGES if kind[0] == "smooth"] if natural else list(SAMPLE_IMAGES)
    out = []
    for i in range(images):
        kind, value, spread = kinds[i % len(kinds)]
        if kind == "noise":
            out.append(torch.randn(*input_shape, generator=gen) * spread + value)
            continue
        coarse = tuple(max(2, round(s / value)) for s in size)
        low = torch.randn(channels, *coarse, generator=gen)
        shared = torch.randn(1, *coarse, generator=gen)
        grain = _GRAIN.get(value, 0.1) * torch.randn(*input_shape, generator=gen)
        out.append(smooth_image(low, shared, grain, size))
    return torch.stack(out).to(device=device, dtype=dtype)


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first floating tensor (CPU float32 when it has none)."""
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32


@contextmanager
def measuring(model: nn.Module) -> Iterator[None]:
    """Eval mode and no_grad, with torch's fused MHA / encoder-layer fast path off; restores both.

    Off because the fused kernels would count projections under ``attention`` and nest padded
    batches; the slow path does the same products, so totals do not change (tested).
    """
    was_training = model.training
    fastpath = torch.backends.mha.get_fastpath_enabled()
    model.eval()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        model.train(was_training)


# -- structure: depth and the tensors layers use as weights ---------------------------------------
_PRODUCTS: dict[str, tuple[tuple[int, ...], int | Callable[[tuple], int]]] = {
    # convolutions: input and weight (a bias is added, not multiplied)
    **dict.fromkeys(
        _names("""convolution _convolution convolution_overrideable cudnn_convolution
        cudnn_convolution_transpose mkldnn_convolution _slow_conv2d_forward slow_conv3d_forward slow_conv_dilated2d
        slow_conv_dilated3d slow_conv_transpose2d slow_conv_transpose3d _conv_depthwise2d conv_depthwise3d conv_tbc
        miopen_convolution miopen_depthwise_convolution miopen_convolution_transpose thnn_conv2d
        _mps_convolution _mps_convolution_transpose"""),
        ((0, 1), 1),
    ),
    # matrix products and distances: both operands; the add- forms add their first argument
    **dict.fromkeys(
        _names("""mm bmm mv dot vdot _int_mm _scaled_mm _sparse_mm _sparse_sparse_matmul
        _cdist_forward _euclidean_dist"""),
        ((0, 1), 1),
    ),
    **dict.fromkeys(
        _names("""addmm addmm_ _addmm_activation addmv addmv_ baddbmm baddbmm_ addbmm addbmm_ addr
        addr_ _sparse_addmm sspaddmm"""),
        ((1, 2), 1),
    ),
    "_trilinear": ((0, 1, 2), 1),
    # a multiplication is a product only when both operands are broadcast (an outer product)
    "mul": ((0, 1), lambda args: int(_outer_product_macs(*(_shape(a) for a in args[:2])) > 0)),
    # attention kernels: query, key, value (a learned key or value makes a layer; QK^T of activations does not)
    **dict.fromkeys(
        _names("""_scaled_dot_product_flash_attention_for_cpu _scaled_dot_product_flash_attention
        _scaled_dot_product_efficient_attention _scaled_dot_product_cudnn_attention
        _scaled_dot_product_fused_attention_overrideable _scaled_dot_product_attention_math
        _scaled_dot_product_attention_math_for_mps _efficient_attention_forward _flash_attention_forward
        flex_attention"""),
        ((0, 1, 2), 1),
    ),
    # fused fast paths (off while measuring): in- and out-projection; plus the feed-forward pair
    "_native_multi_head_attention": ((0, 1, 2, 5, 7), 2),
    "_transformer_encoder_layer_fwd": ((0, 3, 5, 14, 16), 4),
    # fused recurrent kernels: one layer (mkldnn, one direction), or every layer (cuDNN, MIOpen)
    "mkldnn_rnn_layer": ((0, 1, 2), 1),
    "_cudnn_rnn": ((0, 1), lambda args: int(args[9])),
    "miopen_rnn": ((0, 1), lambda args: int(args[7])),
}
"""Products a weighted layer runs, by operator name: the argument positions of the operands
that are multiplied, and the layers the operator adds to the depth."""


@dataclass
class _Stored:
    tensor: torch.Tensor
    name: str
    is_param: bool


def _numel(tensor: torch.Tensor) -> int:
    """Elements of any tensor type (a nested tensor's components summed; 0 when unknown)."""
    try:
        if tensor.is_nested:
            return int(tensor._nested_tensor_size().prod(-1).sum())
        return int(tensor.numel())
    except (RuntimeError, ValueError, NotImplementedError):
        return 0


def _storage_key(tensor: torch.Tensor) -> int | None:
    try:
        ptr = tensor.untyped_storage().data_ptr()
    except (RuntimeError, ValueError, NotImplementedError, TypeError):
        return None
    return ptr or None


def _describe(tensor: torch.Tensor) -> str:
    """Shape (or, for a nested tensor, which has none, its dtype) of an operator's output."""
    if tensor.is_nested:
        return f"nested:{tensor.dtype}"
    try:
        return str(tuple(tensor.shape))
    except (RuntimeError, ValueError, NotImplementedError):
        return f"{tensor.layout}:{tensor.dtype}"


def _shape(value: Any) -> tuple[int, ...] | None:
    """A dense tensor's shape; ``None`` for anything else."""
    if isinstance(value, torch.Tensor) and not value.is_nested:
        return tuple(value.shape)
    return None


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, nn.utils.rnn.PackedSequence):
        return [value.data]
    return [t for t in tree_leaves(value) if isinstance(t, torch.Tensor)]


@functools.cache
def _module_internals() -> frozenset[str]:
    """Attribute names every ``nn.Module`` holds for itself (its registries, hooks, flags)."""
    return frozenset(vars(nn.Module()))


_WALK_ITEMS = 10_000  # items looked at per attribute, however its containers nest


def _walk_value(path: str, value: Any, depth: int, budget: list[int]) -> Iterator[tuple[str, Any]]:
    budget[0] -= 1
    if budget[0] < 0:
        return
    if isinstance(value, torch.Tensor | nn.Module):
        yield path, value
    elif depth < 4 and isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(itertools.islice(value, max(0, budget[0]))):
            yield from _walk_value(f"{path}[{i}]", item, depth + 1, budget)
    elif depth < 4 and isinstance(value, dict):
        for key, item in itertools.islice(value.items(), max(0, budget[0])):
            yield from _walk_value(f"{path}[{key!r}]", item, depth + 1, budget)


def attribute_values(model: nn.Module) -> Iterator[tuple[str, Any]]:
    """Tensors and modules a model holds outside its registries: plain attributes and the items of
    lists, tuples, sets and dicts held in attributes (nested up to 4 deep, at most 10,000 items
    looked at per attribute), as ``(path, value)`` with paths such as ``blocks[0]`` or ``layer1.0.table``.
    Registered parameters, buffers and submodules are not among them, but a registered object
    referred to again from a plain attribute (``self.order = list(self.blocks)``) is."""
    internals = _module_internals()
    for prefix, module in model.named_modules():
        for key, value in list(vars(module).items()):
            if key not in internals:
                yield from _walk_value(f"{prefix}.{key}" if prefix else key, value, 0, [_WALK_ITEMS])


def stored_tensors(model: nn.Module) -> list[_Stored]:
    """Every tensor the model stores: parameters, buffers and plain tensor attributes (each once).

    A buffer or attribute that shares its storage with a parameter (``self.w_t = self.fc.weight.t()``)
    counts as that parameter."""
    out: list[_Stored] = []
    seen: set[int] = set()
    param_storage: set[int] = set()
    for name, p in model.named_parameters():
        seen.add(id(p))
        out.append(_Stored(p, name, True))
        if (key := _storage_key(p)) is not None:
            param_storage.add(key)
    extra = [*model.named_buffers(), *((n, v) for n, v in attribute_values(model) if isinstance(v, torch.Tensor))]
    for name, t in extra:
        if id(t) in seen:
            continue
        seen.add(id(t))
        out.append(_Stored(t, name, isinstance(t, nn.Parameter) or _storage_key(t) in param_storage))
    return out


class StructureTracer(TorchDispatchMode):
    """Dispatch-level view of forward passes: depth, the stored tensors used as weights, the operations.

    Each pass (:meth:`begin` with the input, the forward under the mode, :meth:`end` with the
    output) tags the input as *data* at depth 0 and every stored tensor (:func:`stored_tensors`)
    as a *source*. Every operator's outputs are data when an input is data, at the largest depth
    of its data inputs; otherwise they carry the union of their inputs' sources (a weight computed
    from parameters and buffers, through views, arithmetic or anything else). A product in
    :data:`_PRODUCTS` with a data operand and a *weight* operand (one computed from stored tensors,
    not from the input) is a weighted layer: its output is one deeper than its deepest data operand
    (a fused multi-layer kernel adds its layers). So products of two activations (QK^T, AV) are not
    layers; frozen weights, weights behind view chains, buffers and custom ``autograd.Function``
    or checkpointed blocks are. Views and in-place writes are followed (a write into a view
    reaches its base; tensors are keyed by identity in ``WeakIdKeyDictionary``).

    Recurrent modules (``nn.RNN``, ``nn.LSTM``, ``nn.GRU`` and their cells) count once per stacked
    layer, however many time steps they run and whether torch runs them fused or step by step
    (forward hooks, :meth:`recurrent_hooks`): the hidden state carried between steps adds no depth.
    A loop the model writes itself over other layers counts every application.

    The depth of a pass is the depth of its output (the deepest data tensor of the pass when the
    output is not traced, e.g. rebuilt from Python numbers). :attr:`weights` collects the stored
    tensors outside ``parameters()`` that serve as weights (see :class:`ModelSize`).
    """

    supports_higher_order_operators = True

    def __init__(self, model: nn.Module, *, record_ops: bool = False) -> None:
        super().__init__()
        self.model = model
        self.record_ops = record_ops
        self.ops: list[str] = []
        self.depths: list[int] = []
        self.stored: dict[int, _Stored] = {}
        self.weights: set[int] = set()
        self._depth: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._sources: WeakIdKeyDictionary = WeakIdKeyDictionary()
        self._active = False
        self._suspended = 0
        self._recurrent: list[tuple[nn.Module, int | None, int | None]] = []
        self._deepest = 0
        self._specs: dict[Any, Any] = {}

    # -- one pass --------------------------------------------------------------------------------
    def begin(self, inputs: torch.Tensor) -> None:
        """Start a pass whose input is ``inputs``."""
        self._depth, self._sources = WeakIdKeyDictionary(), WeakIdKeyDictionary()
        for stored in stored_tensors(self.model):
            key = id(stored.tensor)
            self.stored[key] = stored
            self._sources[stored.tensor] = frozenset({key})
        self._depth[inputs] = 0
        self._active, self._suspended, self._recurrent, self._deepest = True, 0, [], 0
        if self.record_ops:
            self.ops.append("-- pass")

    def end(self, output: Any) -> int:
        """Finish the pass; returns its depth (also appended to :attr:`depths`)."""
        self._active = False
        depths = [d for t in _tensors(output) if (d := self.data_depth(t)) is not None]
        depth = max(depths) if depths else self._deepest
        self.depths.append(depth)
        return depth

    def size(self) -> ModelSize:
        """Model size after the passes: parameters plus the stored tensors used as weights."""
        params = count_params(self.model)
        weights = sorted((self.stored[k] for k in self.weights), key=lambda s: s.name)
        stored = {s.name: _numel(s.tensor) for s in weights}
        return ModelSize(params + sum(stored.values()), params, stored)

    # -- state of a tensor -------------------------------------------------------------------------
    def data_depth(self, tensor: torch.Tensor) -> int | None:
        """Depth of a tensor computed from the input in this pass; ``None`` for any other."""
        depth = self._depth.get(tensor)
        base = tensor._base
        if base is not None:
            below = self._depth.get(base)
            if below is not None:
                depth = below if depth is None else max(depth, below)
        return depth

    def _sources_of(self, tensor: torch.Tensor) -> frozenset[int]:
        own = self._sources.get(tensor, frozenset())
        base = tensor._base
        return own | self._sources.get(base, frozenset()) if base is not None else own

    def _set_data(self, tensor: torch.Tensor, depth: int) -> None:
        for t in (tensor, tensor._base):
            if t is not None and (self._depth.get(t, -1) < depth):
                self._depth[t] = depth
                self._sources.pop(t, None)

    def _set_sources(self, tensor: torch.Tensor, sources: frozenset[int]) -> None:
        for t in (tensor, tensor._base):
            if t is not None and t not in self._depth:
                self._sources[t] = self._sources.get(t, frozenset()) | sources

    # -- operators ----------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._active:
            self._propagate(func, args, kwargs, out)
        if self.record_ops:
            shapes = [_describe(t) for t in _tensors(out)]
            self.ops.append(f"{getattr(func, '__name__', func)}[{', '.join(shapes)}]")
        return out

    def _spec(self, func: Any) -> Any:
        if func not in self._specs:
            packet = getattr(func, "_overloadpacket", None)
            name = packet.__name__ if packet is not None else getattr(func, "__name__", str(func))
            namespace = getattr(func, "namespace", "aten")
            self._specs[func] = _PRODUCTS.get(name) if namespace in ("aten", "higher_order") else None
        return self._specs[func]

    def _propagate(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        outputs = _tensors(out)
        if not outputs:
            return
        inputs = _tensors((args, kwargs))
        depths = [d for t in inputs if (d := self.data_depth(t)) is not None]
        if depths:
            depth = max(depths)
            spec = self._spec(func)
            if spec is not None and not self._suspended:
                depth = max(depth, self._layer(spec, args))
            for t in outputs:
                self._set_data(t, depth)
            self._deepest = max(self._deepest, depth)
            return
        sources = frozenset().union(*(self._sources_of(t) for t in inputs))
        if sources:
            for t in outputs:
                self._set_sources(t, sources)

    def _layer(self, spec: tuple[tuple[int, ...], Any], args: tuple) -> int:
        """Depth after a product: one (or the kernel's layers) past its deepest data operand when
        another operand is a weight; -1 when the product is not a weighted layer."""
        positions, layers = spec
        added = layers(args) if callable(layers) else layers
        if added <= 0:
            return -1
        operands = [t for p in positions if p < len(args) for t in _tensors(args[p])]
        data = [d for t in operands if (d := self.data_depth(t)) is not None]
        weights = [t for t in operands if self.data_depth(t) is None and self._sources_of(t)]
        if not data or not weights:
            return -1
        for weight in weights:
            self._note_weight(self._sources_of(weight))
        return max(data) + added

    def _note_weight(self, sources: frozenset[int]) -> None:
        """Stored tensors outside ``parameters()`` behind a weight count as weights when they hold
        more numbers than the parameters the weight is also computed from (a fixed projection
        counts; a pruning mask or spectral-norm vector modifying a larger parameter does not)."""
        fixed = [k for k in sources if not self.stored[k].is_param]
        if not fixed:
            return
        learned = sum(_numel(self.stored[k].tensor) for k in sources if self.stored[k].is_param)
        if sum(_numel(self.stored[k].tensor) for k in fixed) > learned:
            self.weights.update(fixed)

    # -- recurrent modules ----------------------------------------------------------------------------
    @contextmanager
    def recurrent_hooks(self) -> Iterator[None]:
        """Forward hooks on the model's recurrent modules while measuring (see the class docstring)."""
        handles = []
        for module in self.model.modules():
            if isinstance(module, nn.RNNBase | nn.RNNCellBase):
                handles.append(module.register_forward_pre_hook(self._enter_recurrent, with_kwargs=True))
                handles.append(module.register_forward_hook(self._leave_recurrent))
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()

    def _enter_recurrent(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if not self._active:
            return
        sequence = args[0] if args else kwargs.get("input")
        state = (*args[1:], kwargs.get("hx"))
        depth_in = max((d for t in _tensors(sequence) if (d := self.data_depth(t)) is not None), default=None)
        depth_state = max((d for t in _tensors(state) if (d := self.data_depth(t)) is not None), default=None)
        self._recurrent.append((module, depth_in, depth_state))
        self._suspended += 1

    def _leave_recurrent(self, module: nn.Module, args: tuple, output: Any) -> None:
        if not self._active or not self._recurrent or self._recurrent[-1][0] is not module:
            return
        self._suspended -= 1
        _, depth_in, depth_state = self._recurrent.pop()
        layers = module.num_layers if isinstance(module, nn.RNNBase) else 1
        candidates = [d for d in (None if depth_in is None else depth_in + layers, depth_state) if d is not None]
        if candidates:
            depth = max(candidates)
            for t in _tensors(output):
                self._depth[t] = depth
                self._sources.pop(t, None)
            self._deepest = max(self._deepest, depth)


# -- measuring a model ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSize:
    """What the parameter budget limits.

    ``parameters`` is :func:`count_params` (torchvision's ``num_params``); ``stored_weights`` names
    the tensors outside ``parameters()`` (buffers, plain tensor attributes) that layers use as
    weights, with their sizes; ``total`` is the sum of both.
    """

    total: int
    parameters: int
    stored_weights: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Measurement:
    """MACs, model size and depth of a model, from the same forward passes over the sample images.

    ``depth`` is the largest over the images; ``ops`` (when recorded) the operators of every pass
    with their output shapes, each pass starting with ``-- pass``.
    """

    macs: MacCount
    size: ModelSize
    depth: int
    ops: tuple[str, ...] = ()


def _has_lazy_parameters(model: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedTensorMixin) for p in [*model.parameters(), *model.buffers()])


_BATCH_PASS = 2  # images in the batch pass: enough for a path only batches of several take


def _scaled(count: MacCount, images: int) -> MacCount:
    """A batch's count per image (the batch's MACs over ``images``, rounded up)."""
    by_operator = {kind: -(-macs // images) for kind, macs in count.by_operator.items()}
    return MacCount(sum(by_operator.values()), by_operator, count.uncounted, count.weight_only)


def _count(model: nn.Module, input_shape: Sequence[int], images: int, tracer: StructureTracer | None) -> MacCount:
    device, dtype = model_device_dtype(model)
    best: MacCount | None = None
    uncounted: set[str] = set()
    samples = sample_images(input_shape, images, device=device, dtype=dtype)
    with measuring(model), tracer.recurrent_hooks() if tracer is not None else nullcontext():
        if _has_lazy_parameters(model):  # shapes first, so no pass records or counts their initialisation
            model(samples[:1])
        stored = [s.tensor for s in stored_tensors(model)]
        # each image alone, then (for a path taken only by batches of several) the first two at once
        pair = min(images, _BATCH_PASS)
        batches = [x.unsqueeze(0) for x in samples] + ([samples[:pair]] if pair > 1 else [])
        for i, inputs in enumerate(batches):
            traced = tracer if i < images else None
            if traced is not None:
                traced.begin(inputs)
            try:
                with MacCounter() as counter, traced if traced is not None else nullcontext():
                    counter.track(inputs, stored)
                    try:
                        out = model(inputs)
                    except Exception:
                        if traced is not None:
                            raise
                        # a model that only runs on single images: the verifier's batch checks say so
                        log.debug("the batch of %d sample images did not run; counted one by one", pair)
                        break
                    counter.finish(out)
            finally:
                if traced is not None:
                    traced._active = False
            if traced is not None:
                traced.end(out)
            count = counter.result() if i < images else _scaled(counter.result(), pair)
            uncounted.update(count.uncounted)
            if best is None or count.total > best.total:
                best = count
    assert best is not None  # images >= 1
    if uncounted:
        log.warning("MACs of %s not counted (outside the counting convention)", ", ".join(sorted(uncounted)))
    return MacCount(best.total, best.by_operator, tuple(sorted(uncounted)), best.weight_only)


def measure(
    model: nn.Module, input_shape: Sequence[int], *, images: int = DEFAULT_IMAGES, record_ops: bool = False
) -> Measurement:
    """MACs, model size and depth of ``model`` for one image of ``input_shape`` (C, H, W).

    Each image of :func:`sample_images` runs alone (batch 1) in eval mode under no_grad, with the
    fused attention fast path off (:func:`measuring`), under :class:`MacCounter` and a
    :class:`StructureTracer`; then the first two as one batch, under the counter only.
    MACs are the count of the costliest image, or the batch's count per image when that is larger
    (so a gate, early exit or routing that takes a cheap path on some inputs, or on single images,
    is not under-counted; ``uncounted`` lists the operators of every pass); products on the
    model's weights alone are kept apart (:attr:`MacCount.weight_only`). Depth is the largest over
    the images, and the stored weights those of any image. The model's training mode is left as it was found. Lazy modules that have no
    shapes yet get them from one forward pass first (eval mode, no_grad), which no count or
    record sees. Raises whatever the model's forward raises.
    """
    tracer = StructureTracer(model, record_ops=record_ops)
    macs = _count(model, input_shape, images, tracer)
    return Measurement(macs, tracer.size(), max(tracer.depths), tuple(tracer.ops))


def measure_macs(model: nn.Module, input_shape: Sequence[int], *, images: int = DEFAULT_IMAGES) -> MacCount:
    """MACs of ``model`` for one image of ``input_shape`` (C, H, W): :attr:`Measurement.macs` without
    the structure pass (the largest count over ``images`` sample images)."""
    return _count(model, input_shape, images, None)


def count_macs(model: nn.Module, input_shape: Sequence[int], *, images: int = DEFAULT_IMAGES) -> int:
    """Multiply-accumulates of one forward pass on one image of ``input_shape`` (C, H, W).

    The total of :func:`measure_macs` (the largest count over ``images`` sample images). Matches
    torchvision's published ``_ops`` (its "GFLOPS", which are MACs) within 2 % for its
    classification models at their evaluation crop size.
    """
    return measure_macs(model, input_shape, images=images).total


def count_params(model: nn.Module) -> int:
    """Parameters: every one, frozen included, shared ones once, buffers not.

    torchvision's ``num_params`` (``sum(p.numel() for p in model.parameters())``). The parameter
    budget limits the model size (:attr:`ModelSize.total`), which adds the buffers and plain
    tensors that layers use as weights (:func:`measure`).
    """
    return int(sum(p.numel() for p in model.parameters()))


def model_size(model: nn.Module, input_shape: Sequence[int], *, images: int = DEFAULT_IMAGES) -> ModelSize:
    """The model size :func:`measure` reports (the same passes), for tools that need only that."""
    return measure(model, input_shape, images=images).size


# -- state the optimizer, the device and the budget would never see --------------------------------
@dataclass(frozen=True)
class Unregistered:
    """A module or learned tensor a model holds where ``nn.Module`` does not register it."""

    path: str
    kind: Literal["module", "parameter", "tensor"]
    size: int

    def describe(self) -> str:
        what = {
            "module": "a module in a plain attribute or container",
            "parameter": "an nn.Parameter in a plain container",
            "tensor": "a tensor with requires_grad=True that is not an nn.Parameter",
        }[self.kind]
        return f"self.{self.path} ({what}, {self.size:,} values)"


def _unregistered_leaf(tensor: torch.Tensor, params: set[int]) -> bool:
    """Whether gradients of ``tensor`` reach a leaf that is not a registered parameter."""
    if tensor.grad_fn is None:
        return id(tensor) not in params
    stack, seen = [tensor.grad_fn], set()
    while stack and len(seen) < 10_000:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None and id(variable) not in params:
            return True
        stack.extend(n for n, _ in node.next_functions if n is not None)
    return False


def unregistered_state(model: nn.Module) -> list[Unregistered]:
    """Modules and learned tensors held where ``nn.Module`` does not register them.

    A module with parameters or buffers in a plain list, tuple, dict or attribute (not
    ``nn.ModuleList`` / ``nn.ModuleDict``), an ``nn.Parameter`` in a plain container (not
    ``nn.ParameterList`` / ``nn.ParameterDict``), a tensor with ``requires_grad=True`` that is not
    an ``nn.Parameter`` (or computed from such a tensor): the optimizer never trains them,
    ``.to(device)`` never moves them and ``parameters()`` never counts them. Objects registered
    elsewhere in the model (``self.order = list(self.blocks)``, a tied weight) are fine.
    """
    modules = {id(m) for m in model.modules()}
    params = {id(p) for p in model.parameters()}
    buffers = {id(b) for b in model.buffers()}
    found: list[Unregistered] = []
    for path, value in attribute_values(model):
        if isinstance(value, nn.Module):
            if id(value) in modules:
                continue
            own = [p for p in value.parameters() if id(p) not in params]
            own += [b for b in value.buffers() if id(b) not in buffers]
            if own:
                found.append(Unregistered(path, "module", sum(_numel(t) for t in own)))
        elif isinstance(value, nn.Parameter):
            if id(value) not in params:
                found.append(Unregistered(path, "parameter", _numel(value)))
        elif value.requires_grad and _unregistered_leaf(value, params):
            found.append(Unregistered(path, "tensor", _numel(value)))
    return found


def warm_up() -> None:
    """Do the counter's and the tracer's lazy imports (about 800 modules) now, on the meta device.

    Meta tensors run no kernels, so no intra-op thread pool starts (safe before fork), and no
    file is touched later, when candidate code runs under the sandbox guard. Covers the paths
    measuring takes: convolution, linear, batched products, recurrent layers (hooks), multi-head
    attention (fast path off), fused attention kernels, distances, the smooth sample images, the
    structure tracer and the recorder of uncounted operators.
    """
    with torch.device("meta"):
        conv = nn.Conv2d(3, 4, 3)
        attention = nn.MultiheadAttention(4, 2, batch_first=True)
        layer = nn.TransformerEncoderLayer(4, 2, 8, batch_first=True)
        rnn = nn.GRU(4, 4, batch_first=True)
        model = nn.ModuleList([conv, attention, layer, rnn])
        x = torch.zeros(1, 3, 8, 8)
        tokens = torch.zeros(1, 5, 4)
        smooth_image(torch.zeros(3, 2, 2), torch.zeros(1, 2, 2), torch.zeros(3, 8, 8), (8, 8))
        tracer = StructureTracer(model, record_ops=True)
        unregistered_state(model)
        with measuring(model), tracer.recurrent_hooks():
            tracer.begin(x)
            with MacCounter(), tracer:
                conv(x)
                attention(tokens, tokens, tokens, need_weights=False)
                attention(tokens, tokens, tokens)
                layer(tokens)
                rnn(tokens)
                torch.einsum("bnc,cd->bnd", tokens, torch.zeros(4, 4))
                nn.functional.scaled_dot_product_attention(tokens, tokens, tokens)
                torch.cdist(tokens, tokens)
            tracer.end(tokens)
        tracer.size()
