"""Counting parameters and multiply-accumulates: every attention form, hand-computed totals,
operators outside the convention, input-dependent compute, torchvision's published figures."""

from __future__ import annotations

import pytest
import torch
import torch.nn.utils.prune
from torch import nn
from torch.nn import functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from fairnad_tools.arch import library
from fairnad_tools.measure import (
    MacCounter,
    count_macs,
    count_params,
    is_zero_cost_op,
    measure,
    measure_macs,
    operator_kind,
    sample_images,
    unregistered_state,
)

aten = torch.ops.aten


def counted(fn, *args, **kwargs):
    """MacCount of one call, under no_grad."""
    with torch.no_grad(), MacCounter() as counter:
        fn(*args, **kwargs)
    return counter.result()


@pytest.fixture
def fastpath():
    """Restores torch's MHA fast-path switch after a test that changes it."""
    before = torch.backends.mha.get_fastpath_enabled()
    yield
    torch.backends.mha.set_fastpath_enabled(before)


# -- nn.MultiheadAttention: batch 2, 16 tokens, dim 32, 4 heads of 8 -----------------------------
# in-proj 2*16*32*96 = 98,304; QK^T 2*4*16*16*8 = 16,384; AV 16,384; out-proj 2*16*32*32 = 32,768
MHA_MACS = 98_304 + 16_384 + 16_384 + 32_768  # 163,840


@pytest.mark.parametrize("need_weights", [False, True])
def test_multihead_attention_counts_the_same_on_the_fused_and_the_slow_path(fastpath, need_weights):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    x = torch.randn(2, 16, 32)
    fused = counted(mha, x, x, x, need_weights=need_weights)  # eval + no_grad: aten._native_multi_head_attention
    assert fused.total == MHA_MACS and fused.by_operator == {"attention": MHA_MACS}
    torch.backends.mha.set_fastpath_enabled(False)
    slow = counted(mha, x, x, x, need_weights=need_weights)
    assert slow.total == MHA_MACS
    assert slow.by_operator["linear"] == 98_304 + 32_768  # projections
    with MacCounter() as counter:  # training: grad enabled, the slow path
        mha.train()(x, x, x, need_weights=need_weights)
    assert counter.result().total == MHA_MACS


def test_fused_multihead_attention_with_a_shorter_source():
    # query 2x16x32, key/value 2x8x32: in-proj q 2*16*32*32 = 32,768, k and v 2*8*32*32 = 16,384 each;
    # QK^T 2*16*8*32 = 8,192 (summed over heads); AV 8,192; out-proj 32,768 -> 114,688
    # the CPU kernel wants equal lengths: shapes alone, on the meta device
    q, kv = torch.randn(2, 16, 32, device="meta"), torch.randn(2, 8, 32, device="meta")
    weights = [torch.randn(*shape, device="meta") for shape in ((96, 32), (96,), (32, 32), (32,))]
    count = counted(aten._native_multi_head_attention, q, kv, kv, 32, 4, *weights, need_weights=False)
    assert count.total == 114_688


def test_transformer_encoder_layer_fused_and_slow(fastpath):
    # MHA 163,840 + feed-forward 2*16*32*64*2 = 131,072 -> 294,912
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True).eval()
    x = torch.randn(2, 16, 32)
    fused = counted(layer, x)  # aten._transformer_encoder_layer_fwd
    assert fused.total == 294_912 and set(fused.by_operator) == {"attention"}
    torch.backends.mha.set_fastpath_enabled(False)
    assert counted(layer, x).total == 294_912


def test_transformer_decoder_layer():
    # self-attention 163,840; cross-attention to 8 memory tokens 114,688 (as above); feed-forward 131,072
    torch.manual_seed(0)
    layer = nn.TransformerDecoderLayer(32, 4, 64, batch_first=True).eval()
    assert counted(layer, torch.randn(2, 16, 32), torch.randn(2, 8, 32)).total == 163_840 + 114_688 + 131_072


# -- F.scaled_dot_product_attention: q, k, v (2, 4, 16, 8): QK^T 2*4*16*16*8 = 16,384, AV 16,384 -----
SDPA_MACS = 32_768


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"is_causal": True}, {"attn_mask": torch.ones(16, 16, dtype=torch.bool)}, {"attn_mask": torch.zeros(16, 16)}],
    ids=["plain", "causal", "bool-mask", "float-mask"],
)
def test_sdpa_cpu_kernel(kwargs):
    q = torch.randn(2, 4, 16, 8)
    count = counted(F.scaled_dot_product_attention, q, q, q, **kwargs)  # _scaled_dot_product_flash_attention_for_cpu
    assert count.total == SDPA_MACS and count.by_operator == {"attention": SDPA_MACS}


def test_sdpa_math_path_and_grouped_query_attention():
    q = torch.randn(2, 4, 16, 8)
    with sdpa_kernel(SDPBackend.MATH):
        count = counted(F.scaled_dot_product_attention, q, q, q)
    assert count.total == SDPA_MACS and count.by_operator == {"matmul": SDPA_MACS}
    # 8 query heads over 2 key/value heads: 1*8*16*16*8 * 2 = 32,768
    q8, kv2 = torch.randn(1, 8, 16, 8), torch.randn(1, 2, 16, 8)
    assert counted(F.scaled_dot_product_attention, q8, kv2, kv2, enable_gqa=True).total == SDPA_MACS


@pytest.mark.parametrize(
    "kernel",
    [
        lambda q: aten._scaled_dot_product_flash_attention(q, q, q),
        lambda q: aten._scaled_dot_product_efficient_attention(q, q, q, None, False),
        lambda q: aten._scaled_dot_product_cudnn_attention(q, q, q, None, False),
        lambda q: aten._scaled_dot_product_fused_attention_overrideable(q, q, q),
        lambda q: aten._scaled_dot_product_attention_math_for_mps(q, q, q),
        lambda q: aten._flash_attention_forward(*[q.transpose(1, 2)] * 3, None, None, 16, 16, 0.0, False, False),
        lambda q: aten._efficient_attention_forward(*[q.transpose(1, 2)] * 3, None, None, None, 16, 16, 0.0, 0),
    ],
    ids=["flash", "efficient", "cudnn", "overrideable", "mps", "flash-forward", "efficient-forward"],
)
def test_accelerator_attention_kernels_on_shapes_alone(kernel):
    """The CUDA / MPS / XPU kernels' formulas, on meta tensors (no kernel runs, no GPU needed)."""
    count = counted(kernel, torch.randn(2, 4, 16, 8, device="meta"))
    assert count.total == SDPA_MACS and count.by_operator == {"attention": SDPA_MACS}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    "backend", [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.MATH]
)
def test_cuda_attention_kernels(fastpath, backend):
    q = torch.randn(2, 4, 16, 8, device="cuda", dtype=torch.float16)
    with sdpa_kernel(backend):
        try:
            count = counted(F.scaled_dot_product_attention, q, q, q)
        except RuntimeError as exc:  # this GPU or build lacks the kernel for these inputs
            pytest.skip(f"{backend.name}: {exc}")
    assert count.total == SDPA_MACS
    mha = nn.MultiheadAttention(32, 4, batch_first=True, device="cuda").eval()
    x = torch.randn(2, 16, 32, device="cuda")
    assert counted(mha, x, x, x, need_weights=False).total == MHA_MACS  # fused on CUDA
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True, device="cuda").eval()
    assert counted(layer, x).total == 294_912


# -- FairNAD's own attention blocks on (1, 8, 4, 4): 16 positions, dim 8, 2 heads of 4 -------------
# qkv 1x1 conv 16*8*24 = 3,072, proj 1x1 conv 16*8*8 = 1,024 where present
LIBRARY_ATTENTION = {
    # QK^T 2 heads * 16*16*4 = 2,048, AV 2,048
    "GlobalAttention": (library.GlobalAttention(8), 3_072 + 2_048 + 2_048 + 1_024),
    # 4 windows of 2x2: QK^T 2 heads * 4 windows * 4*4*4 = 512, AV 512
    "WindowAttention": (library.WindowAttention(8, window=2), 3_072 + 512 + 512 + 1_024),
    # k v^T 2 heads * 4*16*4 = 512, context^T q 2 heads * 4*4*16 = 512
    "LinearAttention": (library.LinearAttention(8), 3_072 + 512 + 512 + 1_024),
    # rows then columns: 4 sequences of 4 tokens each way; per way in-proj 16*8*24 = 3,072,
    # QK^T + AV 4 * 4*4*8 * 2 = 1,024, out-proj 16*8*8 = 1,024
    "AxialAttention": (library.AxialAttention(8), 2 * (3_072 + 1_024 + 1_024)),
}


@pytest.mark.parametrize("name", sorted(LIBRARY_ATTENTION))
def test_library_attention_blocks_are_not_free(name):
    block, macs = LIBRARY_ATTENTION[name]
    assert count_macs(block, (8, 4, 4)) == macs


def test_attention_written_with_einsum():
    # linear attention over 16 tokens of dim 8: k^T v 16*8*8 = 1,024; q (k^T v) 1,024
    q, k, v = (torch.randn(1, 16, 8) for _ in range(3))

    def attend() -> None:
        kv = torch.einsum("bnd,bne->bde", k, v)
        torch.einsum("bnd,bde->bne", q, kv)

    assert counted(attend).total == 2_048


# -- convolutions, products, recurrent layers; what counts zero ----------------------------------
@pytest.mark.parametrize(
    "module,x,macs",
    [
        # grouped: 16 out channels * 8*8 positions * (8/4 in-channels * 9) = 18,432
        (nn.Conv2d(8, 16, 3, padding=1, groups=4), torch.randn(1, 8, 8, 8), 18_432),
        # depthwise: 8 * 64 * 9 = 4,608
        (nn.Conv2d(8, 8, 3, padding=1, groups=8), torch.randn(1, 8, 8, 8), 4_608),
        # transposed (torch's convention, per input position): 5*5 * 3*3 * 4 * 8 = 7,200
        (nn.ConvTranspose2d(4, 8, 3, stride=2), torch.randn(1, 4, 5, 5), 7_200),
        # 1-D: 8 out * 6 positions * 4 in * 3 = 576; 3-D: 2 out * 2*2*2 positions * 3 in * 27 = 1,296
        (nn.Conv1d(4, 8, 3), torch.randn(1, 4, 8), 576),
        (nn.Conv3d(3, 2, 3), torch.randn(1, 3, 4, 4, 4), 1_296),
        # linear on 3-D input: 2*5 tokens * 6 * 7 = 420; on a vector (mv): 6 * 7 = 42
        (nn.Linear(6, 7), torch.randn(2, 5, 6), 420),
        (nn.Linear(6, 7), torch.randn(6), 42),
        # LSTM, 3 steps x batch 2: 6 * (16*8 + 16*4) = 1,152; GRU: 6 * (12*8 + 12*4) = 864
        (nn.LSTM(8, 4), torch.randn(3, 2, 8), 1_152),
        (nn.GRU(8, 4), torch.randn(3, 2, 8), 864),
    ],
    ids=["grouped", "depthwise", "transposed", "conv1d", "conv3d", "linear-3d", "linear-1d", "lstm", "gru"],
)
def test_layer_formulas(module, x, macs):
    assert counted(module, x).total == macs


def test_products_and_bilinear():
    a, b = torch.randn(8, 32), torch.randn(32)
    assert counted(torch.matmul, a, b).total == 256  # mv: 8 * 32
    assert counted(torch.dot, b, b).total == 32
    # addbmm: 3 * 4*6*5 = 360
    assert counted(torch.addbmm, torch.randn(4, 5), torch.randn(3, 4, 6), torch.randn(3, 6, 5)).total == 360
    # bilinear: 2 samples * 3 outputs * 4 * 5 = 120
    assert counted(nn.Bilinear(4, 5, 3), torch.randn(2, 4), torch.randn(2, 5)).total == 120


def test_normalisation_activation_pooling_softmax_and_elementwise_count_zero():
    model = nn.Sequential(
        nn.BatchNorm2d(8),
        nn.GroupNorm(2, 8),
        nn.ReLU(),
        nn.GELU(),
        nn.Hardswish(),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2),
        nn.Upsample(scale_factor=2, mode="bilinear"),
        nn.Softmax(dim=1),
        nn.AdaptiveAvgPool2d(1),
    ).eval()
    count = counted(model, torch.randn(1, 8, 8, 8))
    assert count.total == 0 and count.uncounted == ()
    assert counted(lambda t: F.normalize(t * 2 + 1, dim=1).exp().sum(), torch.randn(4, 8)).uncounted == ()


class SpectralMixer(nn.Module):
    """A global filter layer (GFNet): real work in FFTs, outside the counting convention."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.filter = nn.Parameter(torch.randn(8, 32, 17, 2) * 0.02)
        self.head = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = torch.fft.irfft2(torch.fft.rfft2(h) * torch.view_as_complex(self.filter), s=h.shape[-2:])
        return self.head(h.mean(dim=(2, 3)))


def test_operators_outside_the_convention_are_named_not_guessed():
    count = measure_macs(SpectralMixer(), (3, 32, 32))
    assert count.total == 8 * 1024 * 27 + 80  # stem conv and head only
    assert set(count.uncounted) == {"aten._fft_r2c", "aten._fft_c2r"}
    assert counted(torch.linalg.inv, torch.randn(4, 4)).uncounted == ("aten.linalg_inv_ex",)
    assert counted(torch.linalg.svd, torch.randn(4, 4)).uncounted == ("aten._linalg_svd",)
    assert counted(torch.linalg.eigvalsh, torch.randn(4, 4)).uncounted == ("aten._linalg_eigh",)


def test_distances_count_one_mac_per_pair_and_feature():
    # cdist (2, 7, 8) against (2, 30, 8): 2 * 7 * 30 * 8 = 3,360, by matrix product (p=2) or directly (p=1)
    a, b = torch.randn(2, 7, 8), torch.randn(2, 30, 8)
    for p in (2.0, 1.0):
        count = counted(torch.cdist, a, b, p=p)
        assert count.total == 3_360 and count.by_operator == {"distance": 3_360} and count.uncounted == ()
    # a small 2-D cdist (direct kernel): 1 * 3 * 4 = 12 MACs... times 5 features = 60
    assert counted(torch.cdist, torch.randn(3, 5), torch.randn(4, 5)).total == 60
    # pdist of (10, 16): 45 pairs * 16 = 720
    assert counted(torch.pdist, torch.randn(10, 16)).total == 720


def test_complex_products_count_the_real_products_they_run():
    # (4, 5) @ (5, 6) complex: 120 complex MACs, 4 real each = 480
    z1, z2 = torch.randn(4, 5, dtype=torch.cfloat), torch.randn(5, 6, dtype=torch.cfloat)
    assert counted(torch.mm, z1, z2).total == 480
    # einsum over complex spectra (bmm): 8x8 modes * 16 in * 16 out = 16,384 complex MACs -> 65,536
    f, w = torch.randn(1, 16, 8, 8, dtype=torch.cfloat), torch.randn(16, 16, 8, 8, dtype=torch.cfloat)
    assert counted(torch.einsum, "bixy,ioxy->boxy", f, w).total == 65_536
    # a complex convolution runs as three real ones (Gauss's trick): 3 * (3 out * 9 positions * 2 in * 9) = 1,458
    x, k = torch.randn(1, 2, 5, 5, dtype=torch.cfloat), torch.randn(3, 2, 3, 3, dtype=torch.cfloat)
    assert counted(F.conv2d, x, k).total == 3 * 486
    # conv_tbc: input (T=6, B=2, 4), weight (K=3, 4, 5): 4 steps * 2 * 3 * 4 * 5 = 480
    assert counted(torch.conv_tbc, torch.randn(6, 2, 4), torch.randn(3, 4, 5), torch.zeros(5)).total == 480


def test_operator_families_and_the_zero_cost_operators():
    assert [operator_kind(n) for n in ("aten.convolution", "aten.addmm", "aten.bmm", "aten.mkldnn_rnn_layer")] == [
        "conv",
        "linear",
        "matmul",
        "linear",
    ]
    assert operator_kind("aten._scaled_dot_product_flash_attention_for_cpu") == "attention"
    assert operator_kind("aten._cdist_forward") == operator_kind("aten._pdist_forward") == "distance"
    known = (
        "aten.relu",
        "aten.upsample_bilinear2d",
        "aten.linalg_vector_norm",
        "aten.native_batch_norm",
        "aten.view",
        "aten.sum",
        "aten.mvlgamma",
        "aten.index_put_",
        "aten.bernoulli",
        "aten.hann_window",
    )
    assert all(is_zero_cost_op(n) for n in known)
    # real work, or an operator nobody listed (another namespace, a name this torch does not have)
    unknown = (
        "aten._fft_r2c",
        "aten.linalg_solve",
        "aten._linalg_svd",
        "aten.conv_tbc",
        "aten.mm",
        "quantized.linear",
        "aten.some_future_kernel",
    )
    assert not any(is_zero_cost_op(n) for n in unknown)


# -- compute that depends on the input ------------------------------------------------------------
class BlankSkip(nn.Module):
    """Skips its second convolution on a blank image (an early exit keyed on the input)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)  # 8 * 64 * 27 = 13,824 on 8x8
        self.refine = nn.Conv2d(8, 8, 3, padding=1)  # 8 * 64 * 72 = 36,864
        self.head = nn.Linear(8, 10)  # 80

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        if x.abs().amax() > 0:
            h = self.refine(h)
        return self.head(h.mean(dim=(2, 3)))


class BrightGate(BlankSkip):
    """Refines only bright images (mean above 0.5): most random images, and a zero image, skip it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        if x.mean() > 0.5:
            h = self.refine(h)
        return self.head(h.mean(dim=(2, 3)))


@pytest.mark.parametrize("model", [BlankSkip(), BrightGate()], ids=["blank-skip", "bright-gate"])
def test_the_largest_count_over_sample_images_not_one_zero_image(model):
    cheap, full = 13_824 + 80, 13_824 + 36_864 + 80
    assert counted(model, torch.zeros(1, 3, 8, 8)).total == cheap
    assert count_macs(model, (3, 8, 8)) == full


def test_sample_images_are_fixed_varied_and_leave_the_global_generator_alone():
    state = torch.random.get_rng_state()
    first, second = sample_images((3, 32, 32)), sample_images((3, 32, 32))
    assert torch.equal(first, second) and first.shape == (5, 3, 32, 32)
    assert torch.equal(torch.random.get_rng_state(), state)
    means = first.mean(dim=(1, 2, 3))
    assert means[1] < -0.5 and means[2] > 0.5  # dark and bright noise images both present
    # noise: large values, sharp edges; the smooth images look like CIFAR normalised by its channel
    # statistics (maximum about 1.7-2.1, mean neighbouring-pixel difference about 0.35)
    peak, edge = first.amax(dim=(1, 2, 3)), (first[..., 1:] - first[..., :-1]).abs().mean(dim=(1, 2, 3))
    assert (peak[[0, 2]] > 3.5).all() and (edge[[0, 2]] > 1.0).all()
    spread = first.std(dim=(1, 2, 3))  # flat and high-contrast noise images: a contrast gate sees both sides
    assert spread[1] < 0.4 and spread[2] > 1.8 and 0.9 < spread[0] < 1.1
    assert ((peak[3:] > 1.5) & (peak[3:] <= 2.1)).all() and 0.25 < edge[3] < 0.45 and edge[4] < edge[3]
    assert torch.equal(sample_images((3, 32, 32), 1), first[:1])  # one image: the noise one
    natural = sample_images((3, 16, 16), 4, seed=1, natural=True)
    assert natural.shape == (4, 3, 16, 16) and natural.abs().amax() <= 2.1


def test_counting_leaves_training_mode_and_the_fast_path_as_found():
    model = library.AxialAttention(8)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    for training in (True, False):
        model.train(training)
        count_macs(model, (8, 4, 4))
        assert model.training is training and all(m.training is training for m in model.modules())
    assert torch.backends.mha.get_fastpath_enabled() is fastpath


def test_by_operator_adds_up_to_the_total():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        library.GlobalAttention(8),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    count = measure_macs(model, (3, 8, 8))
    assert count.total == sum(count.by_operator.values()) > 0
    assert set(count.by_operator) == {"conv", "matmul", "linear"}


# -- parameters: model size ------------------------------------------------------------------------
def test_params_count_frozen_once_shared_and_no_buffers():
    shared = nn.Linear(4, 4)  # 20
    frozen = nn.Linear(4, 3).requires_grad_(False)  # 15
    model = nn.Sequential(shared, nn.ReLU(), shared, frozen, nn.BatchNorm1d(3))  # batch norm: 6 + 3 buffers
    assert count_params(model) == 20 + 15 + 6
    model.register_buffer("mask", torch.ones(1000))
    assert count_params(model) == 41
    # the model size adds no buffer here: batch-norm statistics and an unused mask are no layer's weight
    size = measure(model, (4,), images=1).size
    assert (size.total, size.parameters, size.stored_weights) == (41, 41, {})


# -- torchvision's published figures (num_params exact, _ops within 2 %) ------------------------------
TORCHVISION = [  # fifteen of the lighter ones (the suite runs on 2 CPU cores), three transformers among them
    "alexnet",
    "efficientnet_b0",
    "maxvit_t",
    "mnasnet0_5",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "regnet_x_400mf",
    "regnet_y_400mf",
    "resnet18",
    "shufflenet_v2_x0_5",
    "shufflenet_v2_x1_0",
    "squeezenet1_1",
    "swin_t",
    "vit_b_32",
]


@pytest.mark.timeout(900)
def test_torchvision_classification_models_match_their_published_size_and_macs():
    """``num_params`` and ``_ops`` (GFLOPS in torchvision's tables, which count multiply-accumulates)
    from each model's default weights' metadata; the model built with weights=None (no download),
    counted at the weights' evaluation crop size, once in eval mode (every sample image, with the
    model size, which must equal ``num_params``: no buffer of these models is a layer's weight, and
    no operator may be left uncounted) and once in training mode."""
    from torchvision import models

    torch.manual_seed(0)
    failures = []
    for name in TORCHVISION:
        meta = models.get_model_weights(name).DEFAULT
        crop = meta.transforms().crop_size[0]
        model = models.get_model(name, weights=None)
        if count_params(model) != meta.meta["num_params"]:
            failures.append(f"{name}: {count_params(model):,} parameters, published {meta.meta['num_params']:,}")
        published = meta.meta["_ops"] * 1e9
        measured = measure(model.eval(), (3, crop, crop))  # every sample image, as the verifier measures
        if measured.size.total != meta.meta["num_params"] or measured.macs.uncounted:
            failures.append(f"{name}: model size {measured.size}, uncounted {measured.macs.uncounted}")
        if model.training:
            failures.append(f"{name}: measuring changed the training mode")
        # training mode: one image (the count of these models does not depend on the input)
        macs = {"eval": measured.macs.total, "train": count_macs(model.train(), (3, crop, crop), images=1)}
        if not model.training:
            failures.append(f"{name}: count_macs changed the training mode")
        failures += [
            f"{name} ({mode}): {value:,} MACs, published {published:,.0f}"
            for mode, value in macs.items()
            if abs(value - published) > 0.02 * published
        ]
    assert len(TORCHVISION) >= 15 and not failures, "\n".join(failures)


# -- structure: depth at the dispatch level ----------------------------------------------------------------------------
class _Chain(nn.Module):
    """Wraps a forward function over the given modules and tensors (parameters, buffers, attributes)."""

    def __init__(self, forward, **parts) -> None:
        super().__init__()
        self._forward = forward
        for name, part in parts.items():
            if isinstance(part, nn.Parameter | nn.Module):
                setattr(self, name, part)
            elif name.startswith("buf_"):
                self.register_buffer(name, part)
            else:
                setattr(self, name, part)  # a plain tensor attribute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(self, x)


def _tokens(x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2).transpose(1, 2)  # (B, 16 tokens, 4)


DEPTH_CASES = {
    # einsum and @ with weights behind view chains count; QK^T and AV of activations do not: 3 layers
    "einsum-views-and-qkt": (
        _Chain(
            lambda m, x: (
                torch.einsum(
                    "bnc,dc->bnd",
                    torch.softmax(_tokens(x) @ _tokens(x).transpose(1, 2), -1) @ (_tokens(x) @ m.w.view(4, 4).t()),
                    m.v.reshape(4, 4),
                )
                @ m.u.unsqueeze(0).expand(4, -1).t()[:, :1]
            ),
            w=nn.Parameter(torch.randn(16)),
            v=nn.Parameter(torch.randn(2, 8)),
            u=nn.Parameter(torch.randn(4)),
        ),
        3,
    ),
    # frozen weights count
    "frozen": (
        nn.Sequential(
            nn.Conv2d(4, 4, 1).requires_grad_(False),
            nn.Conv2d(4, 4, 1).requires_grad_(False),
            nn.Flatten(),
            nn.Linear(64, 2),
        ),
        3,
    ),
    # a buffer used as a weight is a layer; a constant made in forward is not
    "buffer-and-constant": (
        _Chain(lambda m, x: (x.flatten(1) @ m.buf_proj.t()) @ torch.ones(8, 3), buf_proj=torch.randn(8, 64)),
        1,
    ),
    # nn.LSTM(num_layers=3): 3; bidirectional GRU: 1 (directions in parallel); LSTM with a projection (stepped
    # by torch one time step at a time on the CPU): 1; all on the 16 tokens
    "stacked-lstm": (_Chain(lambda m, x: m.rnn(_tokens(x))[0], rnn=nn.LSTM(4, 6, num_layers=3, batch_first=True)), 3),
    "bidirectional-gru": (
        _Chain(lambda m, x: m.rnn(_tokens(x))[0], rnn=nn.GRU(4, 6, bidirectional=True, batch_first=True)),
        1,
    ),
    "projected-lstm": (_Chain(lambda m, x: m.rnn(_tokens(x))[0], rnn=nn.LSTM(4, 6, proj_size=2, batch_first=True)), 1),
    "packed-gru": (
        _Chain(
            lambda m, x: nn.utils.rnn.pad_packed_sequence(
                m.rnn(nn.utils.rnn.pack_padded_sequence(_tokens(x), torch.tensor([16]), batch_first=True))[0],
                batch_first=True,
            )[0],
            rnn=nn.GRU(4, 6, batch_first=True),
        ),
        1,
    ),
}


class _KeywordRecurrence(nn.Module):
    """A 2-layer GRU called with keywords, then an LSTM cell stepped by hand over its 16 outputs: 2 + 1 layers, + head."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.cell, self.head = (
            nn.GRU(4, 6, num_layers=2, batch_first=True),
            nn.LSTMCell(6, 5),
            nn.Linear(5, 2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(input=_tokens(x))
        h = c = out.new_zeros(out.shape[0], 5)
        for step in range(out.shape[1]):
            h, c = self.cell(out[:, step], hx=(h, c))
        return self.head(h)


DEPTH_CASES["keyword-gru-and-cell-loop"] = (_KeywordRecurrence(), 4)


@pytest.mark.parametrize("name", sorted(DEPTH_CASES))
def test_depth_at_the_dispatch_level(name):
    model, layers = DEPTH_CASES[name]
    assert measure(model, (4, 4, 4), images=2).depth == layers


# -- structure: the model size --------------------------------------------------------------------------------------------
def _size(model: nn.Module, shape=(4, 4, 4)):
    return measure(model, shape, images=1).size


def test_tensors_outside_parameters_count_when_a_layer_uses_them_as_weights():
    proj = torch.randn(8, 64)  # 512 values
    # through a view, after arithmetic, beside a one-number parameter: a weight each time
    for forward in (
        lambda m, x: x.flatten(1) @ m.buf_proj.t(),
        lambda m, x: x.flatten(1) @ (m.buf_proj * 1.0).t(),
        lambda m, x: x.flatten(1) @ (m.buf_proj + 0 * m.alpha).t(),
    ):
        size = _size(_Chain(forward, buf_proj=proj.clone(), alpha=nn.Parameter(torch.zeros(1))))
        assert (size.total, size.parameters, size.stored_weights) == (513, 1, {"buf_proj": 512})
    # a plain tensor attribute used by F.linear; one buffer registered under two names counts once
    shared = torch.randn(8, 64)
    model = _Chain(
        lambda m, x: F.linear(x.flatten(1), m.plain) + F.linear(x.flatten(1), m.buf_a) @ m.buf_b[:, :8].t(),
        plain=torch.randn(8, 64),
        buf_a=shared,
        buf_b=shared,
    )
    assert _size(model).stored_weights == {"buf_a": 512, "plain": 512}


def test_tensors_that_modify_or_only_meet_activations_do_not_count():
    conv = nn.Conv2d(4, 4, 3, padding=1)  # 144 + 4
    # a mask as large as the weight it multiplies, a table added to activations, batch-norm statistics
    model = _Chain(
        lambda m, x: m.bn(F.conv2d(x + m.buf_pos, m.conv.weight * m.buf_mask, m.conv.bias)),
        conv=conv,
        bn=nn.BatchNorm2d(4),
        buf_mask=torch.ones(4, 4, 3, 3),
        buf_pos=torch.zeros(1, 4, 4, 4),
    )
    assert _size(model).stored_weights == {} and _size(model).total == 148 + 8
    # pruning (weight_orig * weight_mask), spectral and weight normalisation: the parameters alone
    pruned = nn.Conv2d(4, 4, 3, padding=1)
    torch.nn.utils.prune.l1_unstructured(pruned, "weight", amount=0.5)
    spectral = nn.utils.parametrizations.spectral_norm(nn.Conv2d(4, 4, 3, padding=1))
    normed = nn.utils.parametrizations.weight_norm(nn.Conv2d(4, 4, 3, padding=1))
    for layer, params in ((pruned, 148), (spectral, 148), (normed, 148 + 4)):
        size = _size(layer)
        assert (size.total, size.stored_weights) == (params, {}), type(layer)
    # an attribute that is a view of a parameter is that parameter, not a second copy
    linear = nn.Linear(64, 8)
    model = _Chain(lambda m, x: x.flatten(1) @ m.w_t, fc=linear, w_t=linear.weight.detach().t())
    assert _size(model).total == 520


# -- structure: what nn.Module does not register --------------------------------------------------------------------------
def test_unregistered_layers_and_learned_tensors_are_found_and_registered_ones_are_not():
    model = nn.Module()
    model.kept = nn.ModuleList([nn.Linear(2, 2)])
    model.order = list(model.kept)  # registered elsewhere
    model.acts = (nn.ReLU(), nn.GELU())  # no parameters or buffers
    model.rnn = nn.LSTM(2, 2)  # its _flat_weights list holds its own parameters
    model.tied = {"w": model.kept[0].weight}
    model.spectral = nn.utils.spectral_norm(nn.Linear(2, 2))  # old style: weight is a computed attribute
    model.table = [[0] * 1000 for _ in range(1000)]  # a large plain container: looked at in part, quickly
    model.lost = [nn.Linear(2, 3), {"deep": (nn.BatchNorm1d(2),)}]
    model.loose = [nn.Parameter(torch.ones(5))]
    model.raw = torch.zeros(7, requires_grad=True)
    model.derived = torch.zeros(6, requires_grad=True) * 2  # gradients reach a hidden leaf
    model.fixed = torch.zeros(9)  # no gradient wanted: a constant (counted in the size when a layer uses it)
    found = {(f.path, f.kind, f.size) for f in unregistered_state(model)}
    assert found == {
        ("lost[0]", "module", 9),
        ("lost[1]['deep'][0]", "module", 2 + 2 + 2 + 2 + 1),
        ("loose[0]", "parameter", 5),
        ("raw", "tensor", 7),
        ("derived", "tensor", 6),
    }


# -- structure: every tensor type the model may use -----------------------------------------------------------------------
def test_the_tracer_and_counter_accept_nested_sparse_complex_and_quantized_tensors():
    def forward(m, x):
        g = m.conv(x).mean((2, 3))  # (1, 4)
        nested = torch.nested.nested_tensor([g[0], g[0, :2]])
        g = g + 0 * nested.to_padded_tensor(0.0)[0]
        g = torch.sparse.mm(torch.eye(4).to_sparse(), g.t()).t()  # 4 stored values * 1 column
        g = torch.view_as_real(torch.fft.fft(g.to(torch.cfloat)))[..., 0]
        return torch.quantize_per_tensor(g, 0.1, 0, torch.qint8).dequantize()

    measured = measure(_Chain(forward, conv=nn.Conv2d(4, 4, 1)), (4, 4, 4), images=2, record_ops=True)
    assert measured.macs.total == 16 * 16 + 4 and measured.macs.uncounted == ("aten._fft_c2c",)
    assert any("nested:torch.float32" in op for op in measured.ops)


# -- lazy modules: counted after the first forward, in the trainer too ---------------------------------------------------
def test_lazy_modules_are_materialised_before_counting_and_the_optimizer():
    from fairnad_tools.train.worker import materialise

    fresh = nn.Sequential(nn.Flatten(), nn.LazyLinear(5), nn.BatchNorm1d(5))
    assert measure(fresh, (2, 2, 2), images=1).size.total == 8 * 5 + 5 + 10  # measure gives them shapes itself
    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(5), nn.BatchNorm1d(5)).train()
    materialise(model, torch.randn(3, 2, 2, 2))
    assert model.training and count_params(model) == 8 * 5 + 5 + 10
    assert model[2].num_batches_tracked == 0  # eval mode: no batch statistics taken
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    assert sum(p.numel() for group in optimizer.param_groups for p in group["params"]) == 55


# -- batch independence (eval mode) ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "forward,mixes",
    [
        (lambda m, x: m.bn(m.conv(x)).mean((2, 3)), False),  # batch norm in eval mode is per image
        (lambda m, x: m.bn(m.conv(x)).mean((2, 3)) + 1e-3 * torch.randn(x.shape[0], 4), False),  # sampling: not judged
        (lambda m, x: (lambda h: h - h.mean(0))(m.conv(x).mean((2, 3))), True),
        (lambda m, x: m.conv(x).mean((2, 3)).reshape(-1)[: x.shape[0] * 4].roll(1).view(-1, 4), True),
        (lambda m, x: m.conv(x).mean((2, 3)) / 0.0, False),  # not finite: the finiteness check names it
    ],
    ids=["batch-norm", "sampling", "batch-mean", "rolled-view", "not-finite"],
)
def test_batch_independence_is_checked_in_eval_mode(forward, mixes):
    from fairnad_tools.verify.worker import Progress, _check_batch_independence

    model = _Chain(forward, conv=nn.Conv2d(3, 4, 3, padding=1), bn=nn.BatchNorm2d(4))
    result = _check_batch_independence(model.train(), (3, 8, 8), 4, Progress())
    assert (result is not None) == mixes, result
    assert model.training
    if mixes:
        assert result["code"] == "bad_output_shape" and "other images in its batch" in result["message"]
