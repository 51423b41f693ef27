"""What the CPU can do: its model and the instruction sets that decide which kernels run.

Machines of one kind have come with AVX-512 and bf16/AMX units or with AVX2 only; their times differ
by ~2x, and bfloat16 is worth computing only where the CPU has bf16 units.
"""

import platform
from pathlib import Path

INSTRUCTION_SETS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_record(cpuinfo="/proc/cpuinfo"):
    """`{"cpu_model", "instruction_sets"}` of the first CPU in `cpuinfo` (Linux); `None`s where it is unreadable."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {"cpu_model": platform.processor() or None, "instruction_sets": None}
    fields = {}
    for line in text.split("\n\n")[0].splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    flags = set(fields.get("flags", "").split())
    return {
        "cpu_model": fields.get("model name") or platform.processor() or None,
        "instruction_sets": {name: name in flags for name in INSTRUCTION_SETS} if flags else None,
    }


def has_bf16_units(record=None):
    """Whether the CPU computes bfloat16 in hardware (AVX512_BF16 or AMX); elsewhere it is emulated, and slower."""
    sets = (record or cpu_record())["instruction_sets"] or {}
    return bool(sets.get("avx512_bf16") or sets.get("amx_bf16"))
