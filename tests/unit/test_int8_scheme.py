"""The int8 graph's integer scheme (issue 12): why 7-bit weights give the same integers on
every CPU's kernel, and GPTQ's rounding. The CPU-independent half of the proof; the
emulated-CPU half is tests/cpu/test_int8_portability.py."""

from __future__ import annotations

import numpy as np
import pytest

from lamina.inference.cpu import CpuInfo, arm_int8_kernel, cpu_info, x86_int8_kernel
from lamina_tools.models.build import PORTABLE, IntScheme, quantize_weight


def saturating_u8s8(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """What MLAS's AVX2 / AVX-512BW u8 x s8 kernels compute: ``vpmaddubsw`` adds the
    products of consecutive k pairs into int16 with saturation, then ``vpmaddwd`` sums
    the pairs into int32."""
    a32, b32 = a.astype(np.int32), b.astype(np.int32)
    if a32.shape[1] % 2:
        a32 = np.pad(a32, ((0, 0), (0, 1)))
        b32 = np.pad(b32, ((0, 1), (0, 0)))
    pairs = a32[:, 0::2, None] * b32[None, 0::2, :] + a32[:, 1::2, None] * b32[None, 1::2, :]
    result: np.ndarray = np.clip(pairs, -32768, 32767).sum(axis=1)
    return result


def exact(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = a.astype(np.int64) @ b.astype(np.int64)
    return result


def test_pair_sum_bounds() -> None:
    assert PORTABLE.weight_bits == 7
    assert PORTABLE.pair_sum_bound() == 2 * 255 * 63 == 32130
    assert PORTABLE.exact_on_saturating_kernels()
    eight = IntScheme(weight_bits=8)
    assert eight.pair_sum_bound() == 2 * 255 * 127
    assert not eight.exact_on_saturating_kernels()
    assert IntScheme(weight_bits=8, signed_weights=False).exact_on_saturating_kernels()
    assert IntScheme(weight_bits=8, activation_bits=7).exact_on_saturating_kernels()


def test_worst_case_saturates_only_with_8_bit_weights() -> None:
    a = np.full((1, 64), 255, dtype=np.uint8)  # every activation at its u8 maximum
    for top, saturates in ((PORTABLE.weight_max, False), (127, True)):
        for sign in (1, -1):
            b = np.full((64, 1), sign * top, dtype=np.int8)
            assert (saturating_u8s8(a, b) != exact(a, b)).any() == saturates, (top, sign)


def test_quantized_weights_multiply_exactly_on_the_saturating_kernel() -> None:
    rng = np.random.default_rng(0)
    weight = rng.standard_t(df=3, size=(384, 96)).astype(np.float32)  # heavy tails
    activations = rng.integers(1, 256, size=(32, 384), dtype=np.uint8)
    activations[:, :8] = 255  # outlier channels, as in MiniLM's hidden states
    seven, scale7 = quantize_weight(weight, 7)
    assert seven.min() >= -63
    assert seven.max() <= 63
    np.testing.assert_allclose(scale7, np.abs(weight).max(axis=0) / 63, rtol=1e-6)
    np.testing.assert_array_equal(saturating_u8s8(activations, seven), exact(activations, seven))
    eight, _ = quantize_weight(weight, 8)
    assert (saturating_u8s8(activations, eight) != exact(activations, eight)).any()


def test_gptq_moves_the_layer_output_less_than_rounding_to_nearest() -> None:
    rng = np.random.default_rng(1)
    mixing = rng.normal(size=(64, 64))
    x = rng.normal(size=(4000, 64)) @ mixing  # correlated inputs: where GPTQ helps
    weight = rng.normal(size=(64, 32)).astype(np.float32)
    hessian = x.T @ x / len(x)
    nearest, scale = quantize_weight(weight, 7)
    gptq, scale_g = quantize_weight(weight, 7, hessian)
    np.testing.assert_array_equal(scale, scale_g)  # same grid, other rounding
    assert gptq.min() >= -63
    assert gptq.max() <= 63

    def output_error(q: np.ndarray) -> float:
        return float(np.linalg.norm(x @ weight - x @ (q * scale)))

    assert output_error(gptq) < 0.8 * output_error(nearest)


def test_gptq_with_uncorrelated_inputs_is_rounding_to_nearest() -> None:
    rng = np.random.default_rng(2)
    weight = rng.normal(size=(48, 16)).astype(np.float32)
    nearest, _ = quantize_weight(weight, 7)
    gptq, _ = quantize_weight(weight, 7, np.diag(rng.uniform(0.5, 2.0, size=48)))
    np.testing.assert_array_equal(gptq, nearest)


@pytest.mark.parametrize(
    ("features", "kernel"),
    [
        ({"AVX2"}, "AVX2 vpmaddubsw (saturating int16 pair sums)"),
        ({"AVX2", "AVX512F", "AVX512BW"}, "AVX-512BW vpmaddubsw (saturating int16 pair sums)"),
        ({"AVX2", "AVX_VNNI"}, "AVX-VNNI vpdpbusd (int32 accumulation)"),
        ({"AVX2", "AVX512BW", "AVX512VNNI"}, "AVX-512 VNNI vpdpbusd (int32 accumulation)"),
        ({"AVX2", "AVX512VNNI", "AMX_INT8"}, "AMX (int32 accumulation)"),
        (set(), "SSE int16 widening (exact)"),
    ],
)
def test_x86_kernel_names(features: set[str], kernel: str) -> None:
    assert x86_int8_kernel(features) == kernel


def test_arm_kernel_names() -> None:
    assert arm_int8_kernel({"asimd", "asimddp", "i8mm"}).startswith("arm64 i8mm")
    assert arm_int8_kernel({"asimd", "asimddp"}).startswith("arm64 dotprod")
    assert arm_int8_kernel({"asimd"}) == "arm64 NEON int16 widening"


def test_this_cpu_is_described() -> None:
    info = cpu_info()
    assert isinstance(info, CpuInfo)
    assert info.machine
    assert "int8 GEMM: " in info.describe()
