"""Measurement of models: the one place that counts parameters and multiply-accumulates.

Conventions (those of torchvision's model metadata, ``num_params`` and ``_ops``, and of the
NAS-Bench-201 and FairNAD budgets: 1.5 M parameters, 0.2 G MACs per 3x32x32 image):

* **Parameters** are the model size: every parameter of the module tree, trainable or frozen
  (``requires_grad=False``), a parameter shared by several layers once, buffers (batch-norm
  running statistics, masks) never.
* **MACs** (multiply-accumulates, one per product term) of one forward pass for one image:
  convolutions of any dimension (grouped, depthwise, transposed, dilated), linear layers and
  every matrix product (``mm``, ``addmm``, ``mv``, ``dot``, ``bmm``, ``baddbmm``, ``addbmm``,
  and so ``@``, ``torch.matmul``, ``torch.einsum``, ``torch.tensordot``, which run through
  them), recurrent layers, and attention in every form: the QK^T and AV products of each
  ``scaled_dot_product_attention`` kernel (CPU flash, math, CUDA flash, memory-efficient,
  cuDNN), ``nn.MultiheadAttention`` and ``nn.TransformerEncoderLayer`` / ``DecoderLayer``
  including their projections, flex attention. Normalisation, activations, pooling,
  softmax, interpolation, bias additions and other element-wise work count zero. A causal
  mask does not halve the count (as in ``torch.utils.flop_counter``).

Counting uses ``torch.utils.flop_counter.FlopCounterMode``, which already holds formulas for
``mm``, ``addmm``, ``bmm``, ``baddbmm``, the convolutions, the CUDA attention kernels and flex
attention, extended with :data:`EXTRA_FORMULAS` for the operators it does not know in torch
2.14.1 (the CPU attention kernel ``_scaled_dot_product_flash_attention_for_cpu``, the fused
fast paths ``_native_multi_head_attention`` and ``_transformer_encoder_layer_fwd``, ``mv``,
``dot``, ``addbmm``, in-place products, ``nn.Bilinear``'s ``_trilinear``, the fused recurrent
kernels) and, where its formula is wrong, replaced (``_efficient_attention_forward`` on dense
inputs). ``FlopCounterMode`` counts 2 FLOPs per multiply-accumulate: the formulas here do
the same and totals are halved in :class:`MacCounter`, nowhere else.

An operator outside the convention that does real work (an FFT, ``cdist``, a linear-algebra
solver, a product kernel nobody listed) is not guessed at: it counts zero and is *named* in
:attr:`MacCount.uncounted`, so a report can say what the total leaves out.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

log = logging.getLogger(__name__)

aten = torch.ops.aten

OperatorKind = Literal["conv", "linear", "matmul", "attention", "other"]
"""Families of counted operators, the keys of :attr:`MacCount.by_operator`:
``conv`` convolutions; ``linear`` products of a matrix with a 2-D matrix or a vector (``mm``,
``addmm``, ``mv``, ``dot``: ``nn.Linear``, ``x @ W`` on any leading dimensions, ``nn.Bilinear``,
the gate products of recurrent layers, fused or not);
``matmul`` batched products (``bmm``, ``baddbmm``, ``addbmm``: ``einsum`` and batched ``@``, as in
hand-written attention); ``attention`` fused attention kernels (for ``nn.MultiheadAttention``
only QK^T and AV: its projections run as ``linear`` while counting; a fused kernel called directly
counts whole); ``other`` any further formula registered with torch's counter."""

DEFAULT_IMAGES = 3
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


def _sdpa_flop(query, key, value, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
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


def _native_mha_flop(query, key, value, embed_dim, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return _flops(_mha_macs(query, key, embed_dim))


def _encoder_layer_flop(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias, use_gelu,  # type: ignore[no-untyped-def]
                        norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1,
                        ffn_bias_1, ffn_weight_2, *args, out_shape=None, **kwargs) -> int:  # fmt: skip
    """Fused encoder layer: self-attention as :func:`_mha_macs` plus the two feed-forward linears."""
    tokens = math.prod(src[:-1])
    return _flops(_mha_macs(src, src, embed_dim) + tokens * (math.prod(ffn_weight_1) + math.prod(ffn_weight_2)))


def _addmm_flop(self_shape, a, b, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return _mm(a, b)


def _mm_flop(a, b, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return _mm(a, b)


def _mv_flop(matrix, vector, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return _flops(math.prod(matrix))


def _addmv_flop(self_shape, matrix, vector, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return _flops(math.prod(matrix))


def _dot_flop(a, b, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    return _flops(math.prod(a))


def _baddbmm_flop(self_shape, a, b, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    """(b, n, m) @ (b, m, p): b * n * m * p MACs (``addbmm`` sums the batch afterwards, same cost)."""
    return _flops(a[0] * a[1] * a[2] * b[2])


def _trilinear_flop(i1, i2, i3, expand1, expand2, expand3, sumdim, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
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


def _mkldnn_rnn_flop(input, weight0, weight1, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    """One fused RNN layer (one direction): each time step of each sequence multiplies the input-to-
    hidden (G*H, I) and hidden-to-hidden (G*H, H) matrices once: steps * batch * (G*H*I + G*H*H)."""
    steps_batch = math.prod(input) // weight0[1]
    return _flops(steps_batch * (math.prod(weight0) + math.prod(weight1)))


def _cudnn_rnn_flop(input, weight, *args, out_shape=None, **kwargs) -> int:  # type: ignore[no-untyped-def]
    """Fused cuDNN / MIOpen RNN: steps * batch * the size of every weight matrix (all layers and
    directions; input (T, B, I), (B, T, I) or packed (sum of lengths, I)); biases are not products."""
    steps_batch = math.prod(input[:-1])
    return _flops(steps_batch * sum(math.prod(w) for w in weight if len(w) == 2))


def _efficient_attention_forward_flop(query, key, value, bias, cu_seqlens_q, *args, **kwargs) -> int:  # type: ignore[no-untyped-def]
    """``_efficient_attention_forward`` (tensors, not shapes): its dense inputs are (B, M, H, K), which
    torch 2.14.1's own formula reads as (B, H, M, K); packed (nested) inputs go to torch's formula."""
    if cu_seqlens_q is not None:
        return flop_registry[aten._efficient_attention_forward](query, key, value, bias, cu_seqlens_q, *args, **kwargs)
    q, k, v = (tuple(t.shape) for t in (query, key, value))
    heads_first = [(*s[:-3], s[-2], s[-3], s[-1]) for s in (q, k, v)]
    return _flops(_attention_macs(*heads_first))


_efficient_attention_forward_flop._get_raw = True  # type: ignore[attr-defined]  # FlopCounterMode passes tensors


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
    # element-wise LSTM / GRU cells (the gate products run as mm before them): known, zero
    aten._thnn_fused_lstm_cell: _zero_flop,
    aten._thnn_fused_gru_cell: _zero_flop,
}
"""Formulas ``torch.utils.flop_counter`` lacks in torch 2.14.1, keyed by ATen operator, in its
calling convention (shapes in place of tensors, FLOPs = 2 * MACs)."""

_KINDS: dict[str, OperatorKind] = {
    **dict.fromkeys(("convolution", "_convolution", "cudnn_convolution", "_slow_conv2d_forward",
                     "convolution_overrideable"), "conv"),
    **dict.fromkeys(("mm", "addmm", "addmm_", "_addmm_activation", "_scaled_mm", "_int_mm", "mv", "addmv",
                     "addmv_", "dot", "vdot", "_trilinear", "mkldnn_rnn_layer", "_cudnn_rnn", "miopen_rnn",
                     "_thnn_fused_lstm_cell", "_thnn_fused_gru_cell"), "linear"),
    **dict.fromkeys(("bmm", "baddbmm", "baddbmm_", "addbmm", "addbmm_"), "matmul"),
    **dict.fromkeys(("_native_multi_head_attention", "_transformer_encoder_layer_fwd"), "attention"),
}  # fmt: skip

# Operators that do real work (products, transforms, solvers) by name; those without a formula are
# named in MacCount.uncounted. Norms (linalg_vector_norm in F.normalize), interpolation and the
# element-wise recurrent cells are not products.
_COMPUTE_OP = re.compile(
    r"conv|attention|attn|fft|linalg|lstm|gru|(^|_)(rnn|mm|bmm|addmm|baddbmm|addbmm|mv|addmv|dot|vdot|matmul|"
    r"einsum|linear|bilinear|trilinear|tensordot|cdist|stft|istft|cholesky\w*|svd|qr|eig\w*|inverse|lu\w*|"
    r"triangular_solve|solve)(_|$)"
)
_NOT_COMPUTE_OP = re.compile(r"upsample|_convert|fftshift|norm|_check_errors|backward")


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


def is_compute_op(name: str) -> bool:
    """Whether an operator does real work that the convention counts or should name (by name)."""
    short = name.rsplit(".", 1)[-1]
    return bool(_COMPUTE_OP.search(short)) and not _NOT_COMPUTE_OP.search(short)


# -- counting ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MacCount:
    """Multiply-accumulates of one forward pass.

    ``total`` equals the sum of ``by_operator`` (MACs per :data:`OperatorKind`, kinds with none
    left out); ``uncounted`` names operators that ran, do real work and have no formula (counted 0).
    """

    total: int
    by_operator: dict[str, int] = field(default_factory=dict)
    uncounted: tuple[str, ...] = ()


_COMPUTE_VERDICTS: dict[Any, bool] = {}


def _uncounted_work(packet: Any, registry: dict[Any, Any]) -> bool:
    """Real work without a formula (the name check is cached per operator: it runs for every call)."""
    if packet in registry:
        return False
    verdict = _COMPUTE_VERDICTS.get(packet)
    if verdict is None:
        verdict = _COMPUTE_VERDICTS[packet] = is_compute_op(str(packet))
    return verdict


class MacCounter(FlopCounterMode):
    """Context manager that counts the MACs of whatever runs inside it (see the module docstring).

    ::

        with MacCounter() as counter:
            model(x)
        counter.result()  # MacCount(total=..., by_operator={...}, uncounted=(...))

    A ``FlopCounterMode`` with :data:`EXTRA_FORMULAS`, which also notes every operator that runs
    without a formula and does real work (through ``_count_flops``, which the counter calls for
    each operator it runs). Counts what actually runs: a fused kernel such as
    ``_native_multi_head_attention`` counts under ``attention`` as a whole; :func:`measure_macs`
    turns torch's fused fast path off so that projections count as ``linear`` in every mode.
    """

    def __init__(self) -> None:
        super().__init__(display=False, custom_mapping=EXTRA_FORMULAS)
        self.uncounted: Counter[str] = Counter()

    def __enter__(self) -> MacCounter:
        self.uncounted.clear()
        super().__enter__()
        return self

    def _count_flops(self, func_packet, out, args, kwargs):  # type: ignore[no-untyped-def]
        if _uncounted_work(func_packet, self.flop_registry):
            self.uncounted[str(func_packet)] += 1
        return super()._count_flops(func_packet, out, args, kwargs)

    def result(self) -> MacCount:
        """The count so far, in MACs (FLOPs halved)."""
        by_kind: Counter[str] = Counter()
        for op, flops in self.get_flop_counts().get("Global", {}).items():
            by_kind[operator_kind(str(op))] += int(flops) // 2
        by_operator = {kind: macs for kind, macs in sorted(by_kind.items()) if macs}
        return MacCount(sum(by_operator.values()), by_operator, tuple(sorted(self.uncounted)))


def sample_images(
    input_shape: Sequence[int], images: int = DEFAULT_IMAGES, *, seed: int = 0, device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:  # fmt: skip
    """Inputs like normalised images: (images, C, H, W), standard-normal pixels plus a per-image offset.

    The offsets run evenly from -1 to 1 (0 for one image), so images differ in brightness as
    well as texture: a gate or early exit that keys on the input's statistics sees both sides.
    A private generator seeded with ``seed`` makes the images the same on every call without
    touching torch's global random state.
    """
    if images < 1:
        raise ValueError(f"images must be at least 1 (got {images})")
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(images, *input_shape, generator=gen)
    offsets = torch.linspace(-1.0, 1.0, images) if images > 1 else torch.zeros(1)
    x += offsets.view(-1, *([1] * len(input_shape)))
    return x.to(device=device, dtype=dtype)


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


def measure_macs(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    images: int = DEFAULT_IMAGES,
    observer: TorchDispatchMode | None = None,
) -> MacCount:
    """MACs of ``model`` for one image of ``input_shape`` (C, H, W): the largest over ``images`` images.

    Each image of :func:`sample_images` runs alone (batch 1) in eval mode under no_grad, with
    the fused attention fast path off (:func:`measuring`); the result is the count of the
    costliest one, so a gate, early exit or routing that takes a cheap path on some inputs is
    not under-counted. ``uncounted`` lists the operators of every image. The model's training
    mode is left as it was found.

    ``observer``, when given, is entered around each image's forward pass inside the counter,
    so it sees every operator as the model calls it (the verifier's structure signature
    records the same passes instead of running its own).

    Raises whatever the model's forward raises.
    """
    device, dtype = model_device_dtype(model)
    best: MacCount | None = None
    uncounted: set[str] = set()
    with measuring(model):
        for x in sample_images(input_shape, images, device=device, dtype=dtype):
            with MacCounter() as counter, observer if observer is not None else nullcontext():
                model(x.unsqueeze(0))
            count = counter.result()
            uncounted.update(count.uncounted)
            if best is None or count.total > best.total:
                best = count
    assert best is not None  # images >= 1
    if uncounted:
        log.warning("MACs of %s not counted (outside the counting convention)", ", ".join(sorted(uncounted)))
    return MacCount(best.total, best.by_operator, tuple(sorted(uncounted)))


def count_macs(model: nn.Module, input_shape: Sequence[int], *, images: int = DEFAULT_IMAGES) -> int:
    """Multiply-accumulates of one forward pass on one image of ``input_shape`` (C, H, W).

    The total of :func:`measure_macs` (the largest count over ``images`` sample images). Matches
    torchvision's published ``_ops`` (its "GFLOPS", which are MACs) within 2 % for its
    classification models at their evaluation crop size.
    """
    return measure_macs(model, input_shape, images=images).total


def count_params(model: nn.Module) -> int:
    """Model size: every parameter, frozen included, shared ones once, buffers not.

    The definition of NAS-Bench-201, of the FairNAD paper's 1.5 M budget and of torchvision's
    ``num_params`` (``sum(p.numel() for p in model.parameters())``).
    """
    return int(sum(p.numel() for p in model.parameters()))


def warm_up() -> None:
    """Do the counter's lazy imports (about 800 modules) now, on the meta device.

    Meta tensors run no kernels, so no intra-op thread pool starts (safe before fork), and no
    file is touched later, when candidate code runs under the sandbox guard. Covers the paths
    counting takes: convolution, linear, batched products, recurrent layers, multi-head
    attention (fast path off), fused attention kernels and the recorder of uncounted operators.
    """
    with torch.device("meta"):
        conv = nn.Conv2d(3, 4, 3)
        attention = nn.MultiheadAttention(4, 2, batch_first=True)
        layer = nn.TransformerEncoderLayer(4, 2, 8, batch_first=True)
        x = torch.zeros(1, 3, 8, 8)
        tokens = torch.zeros(1, 5, 4)
        with measuring(layer), MacCounter():
            conv(x)
            attention(tokens, tokens, tokens, need_weights=False)
            attention(tokens, tokens, tokens)
            layer(tokens)
            torch.einsum("bnc,cd->bnd", tokens, torch.zeros(4, 4))
            nn.functional.scaled_dot_product_attention(tokens, tokens, tokens)
