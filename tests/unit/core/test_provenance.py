"""Provenance (issue 11, item 7): the machine a speed or score was measured on."""

import json
import sys

from tft_utils.core.provenance import ISA_FLAGS, cpu_info, machine_info, provenance

X86 = """processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Platinum 8480+
flags		: fpu sse2 avx avx2 avx512f avx512bw avx512_bf16 amx_tile amx_bf16

processor	: 1
model name	: something else
flags		: fpu
"""
ARM = """processor	: 0
BogoMIPS	: 50.00
Features	: fp asimd sve bf16
CPU implementer	: 0x41
"""


def test_cpu_info_reads_model_and_isa_flags(tmp_path):
    (tmp_path / "x86").write_text(X86)
    info = cpu_info(tmp_path / "x86")
    assert info["model"] == "Intel(R) Xeon(R) Platinum 8480+"  # the first processor's block
    assert info["isa"] == {"avx2": True, "avx512f": True, "avx512_bf16": True, "amx_bf16": True}
    (tmp_path / "amd").write_text("model name : AMD EPYC\nflags : fpu avx avx2\n")
    assert cpu_info(tmp_path / "amd")["isa"] == {
        "avx2": True,
        "avx512f": False,
        "avx512_bf16": False,
        "amx_bf16": False,
    }
    (tmp_path / "arm").write_text(ARM)
    arm = cpu_info(tmp_path / "arm")
    assert arm["model"] and not any(arm["isa"].values())


def test_cpu_info_is_graceful_without_proc_cpuinfo(tmp_path):
    info = cpu_info(tmp_path / "absent")
    assert info["isa"] == {f: None for f in ISA_FLAGS}  # unknown, not False
    assert "model" in info


def test_machine_info_is_json_and_in_every_provenance(monkeypatch):
    info = machine_info()
    assert set(info) >= {"platform", "cpu", "logical_cpus", "torch_threads", "cuda_device"}
    assert set(info["cpu"]["isa"]) == set(ISA_FLAGS)
    json.dumps(info)
    assert provenance({"run": {"seed": 3}})["machine"]["cpu"] == info["cpu"]
    # torch is never imported just for provenance: without it in sys.modules, no thread count
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert machine_info()["torch_threads"] is None and "torch" not in sys.modules


def test_machine_info_reads_torch_threads_when_torch_is_loaded():
    import torch

    info = machine_info()
    assert info["torch_threads"] == torch.get_num_threads() >= 1
    if not torch.cuda.is_available():
        assert info["cuda_device"] is None
