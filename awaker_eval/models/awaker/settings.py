"""Adapter hyper-parameters of Awaker2.5-VL (released values by default; golden fixtures carry their own)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

LORA_TARGETS = ("q_proj", "k_proj", "v_proj")
MOE_TARGETS = ("o_proj", "gate_proj", "up_proj", "down_proj")
# Which module's router decides each MoE module (up/down reuse gate_proj's decision).
ROUTER_OWNERS = {"o_proj": "o_proj", "gate_proj": "gate_proj", "up_proj": "gate_proj", "down_proj": "gate_proj"}
# Router order inside one decoder layer, as in the routing records.
ROUTER_ORDER = ("self_attn.o_proj", "mlp.gate_proj")


@dataclass(frozen=True)
class AdapterSettings:
    """r / alpha of every LoRA, the expert names and the router constants."""

    r: int = 256
    lora_alpha: int = 512
    num_experts: int = 4
    global_expert: str = "g"
    lora_adapter_name: str = "default"
    gates_tmp: float = 1.0
    router_rms_norm_eps: float = 1e-6

    @property
    def scaling(self) -> float:
        return self.lora_alpha / self.r

    @property
    def expert_names(self) -> tuple[str, ...]:
        return tuple(str(e) for e in range(self.num_experts))

    @classmethod
    def from_json(cls, path: str | Path) -> "AdapterSettings":
        """Read the flat fields of an ``adapter.json`` (golden fixture format); unknown fields are ignored."""
        try:
            data = json.loads(Path(path).read_text())
            int(data["r"]), int(data["lora_alpha"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a readable adapter.json with integer 'r' and 'lora_alpha' ({exc!r})") from exc
        if data.get("topk", 1) != 1 or not data.get("g_enable", True):
            raise ValueError(f"{path}: only topk=1 with the global expert enabled is supported")
        if tuple(data.get("lora_target_modules", LORA_TARGETS)) != LORA_TARGETS or set(
            data.get("moe_target_modules", MOE_TARGETS)
        ) != set(MOE_TARGETS):
            raise ValueError(f"{path}: unsupported target modules (expected q/k/v LoRA and o/gate/up/down MoE)")
        return cls(
            r=int(data["r"]),
            lora_alpha=int(data["lora_alpha"]),
            num_experts=int(data.get("num_experts", 4)),
            global_expert=str(data.get("global_expert_name", "g")),
            lora_adapter_name=str(data.get("lora_adapter_name", "default")),
            gates_tmp=float(data.get("gates_tmp", 1.0)),
            router_rms_norm_eps=float(data.get("router_rms_norm_eps", 1e-6)),
        )

    def to_json(self, path: str | Path) -> None:
        """Write the flat ``adapter.json`` fields that ``from_json`` reads back."""
        data = {
            "r": self.r, "lora_alpha": self.lora_alpha, "scaling": self.scaling, "num_experts": self.num_experts,
            "topk": 1, "g_enable": True, "gates_tmp": self.gates_tmp, "lora_target_modules": list(LORA_TARGETS),
            "moe_target_modules": list(MOE_TARGETS), "lora_adapter_name": self.lora_adapter_name,
            "moe_adapter_names": [*self.expert_names, self.global_expert], "global_expert_name": self.global_expert,
            "router_owners": ROUTER_OWNERS, "router_rms_norm_eps": self.router_rms_norm_eps,
        }
        Path(path).write_text(json.dumps(data, indent=2) + "\n")
