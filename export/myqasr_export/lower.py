"""Scheme + fp32 model -> quantized, exportable PyTorch module -> lowered ExecuTorch program.

Each quantized layer is rebuilt from the scheme's integers (`quant.quantize_weight(w, fmt, scale)`) and scales, so the
`.pte` computes what `myqasr.simulate.simulate(model, scheme)` computes (no fresh observers):

  linear     int8 per-channel / int4 per-group weights as a torchao `IntxUnpackedToInt8Tensor` with dynamic int8
             per-token activations -> XNNPACK qd8-f32-qc8w / qc4w / qb4w. XNNPACK stores 4-bit scales as bf16: the
             `.pte` equals the simulation exactly when a scheme's 4-bit scales are bf16-representable.
  conv1d     hand-built Q/DQ: static int8 per-tensor input and output, int8 per-channel weights -> XNNPACK qs8 conv.
  embedding  `quantized_decomposed::embedding_byte` / `embedding_4bit` lookup on the integer table (portable kernel of
             `executorch.kernels.quantized`). A tied projection (Whisper's proj_out) is a linear layer of its own
             in the scheme (its own format and scales, from the same fp32 weight).
  fp32       unchanged (fp32 XNNPACK).

`lower()` runs `to_edge_transform_and_lower` with the XNNPACK partitioner and refuses a program in which a
linear / convolution / quantize / dequantize node stayed outside the delegate: those paths lower but compute wrong
numbers or run slowly, silently.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch
import torch.ao.quantization.fx._decomposed  # noqa: F401  (registers quantized_decomposed::{quantize,dequantize}_*)
import torch.nn.functional as F
from torch import nn

from myqasr.errors import MyqasrError
from myqasr.formats import Format
from myqasr.layers import set_module
from myqasr.quant import quantize_weight
from myqasr.scheme import LayerPlan, Scheme
from myqasr.size import storage_bits

# The 4-bit embedding op stores two weights per byte, biased by 8; it is registered by this module.
import executorch.exir.passes._quant_patterns_and_replacements  # noqa: F401,E402

_qd = torch.ops.quantized_decomposed


# ---------------------------------------------------------------------------------------------------------------------
# Quantized modules
# ---------------------------------------------------------------------------------------------------------------------

def intx_weight(q: torch.Tensor, scale: torch.Tensor, fmt: Format, dynamic_act: bool = True) -> torch.Tensor:
    """A torchao IntxUnpackedToInt8Tensor holding exactly the scheme's integers `q` (int8 container) and scales."""
    from torchao.quantization.quantize_.workflows.intx.intx_unpacked_to_int8_tensor import IntxUnpackedToInt8Tensor

    out, inn = q.shape
    if fmt.granularity == "per_group":
        block = (1, fmt.group_size)
    else:
        block = (1, inn)
    s = scale.detach().float().reshape(out, inn // block[1]).contiguous()
    target = torch.int4 if storage_bits(fmt) == 4 else torch.int8
    return IntxUnpackedToInt8Tensor(
        qdata=q.to(torch.int8).contiguous(), scale=s, zero_point=torch.zeros_like(s, dtype=torch.int8),
        target_dtype=target, block_size=block, dtype=torch.float32,
        activation_quantization="int8_asym_per_token" if dynamic_act else None)


def quantized_linear(linear: nn.Module, q: torch.Tensor, scale: torch.Tensor, fmt: Format) -> nn.Linear:
    """An nn.Linear whose weight is the scheme's integers with dynamic int8 per-token activations."""
    if fmt.activation != "dynamic_int8":
        raise MyqasrError(f"linear format {fmt.name}: only dynamic int8 activations are exported (got {fmt.activation})")
    out, inn = q.shape
    bias = getattr(linear, "bias", None)
    new = nn.Linear(inn, out, bias=bias is not None)
    new.weight = nn.Parameter(intx_weight(q, scale, fmt), requires_grad=False)
    if bias is not None:
        new.bias = nn.Parameter(bias.detach().float().clone(), requires_grad=False)
    return new


class QConv1d(nn.Module):
    """Conv1d with int8 per-channel weights and static int8 per-tensor input/output activations (explicit Q/DQ)."""

    def __init__(self, conv: nn.Conv1d, q: torch.Tensor, scale: torch.Tensor, plan: LayerPlan):
        super().__init__()
        if plan.input_scale is None or plan.output_scale is None:
            raise MyqasrError(f"layer {plan.name}: static int8 format needs input_scale and output_scale in the scheme")
        if plan.format.granularity != "per_channel":
            raise MyqasrError(f"layer {plan.name}: conv1d is exported per-channel only (got {plan.format.name})")
        self.register_buffer("wq", q.to(torch.int8).contiguous())
        self.register_buffer("ws", scale.detach().float().reshape(-1).contiguous())
        self.register_buffer("wzp", torch.zeros(q.shape[0], dtype=torch.int64))
        self.bias = None if conv.bias is None else nn.Parameter(conv.bias.detach().float().clone(), requires_grad=False)
        self.stride, self.padding, self.dilation, self.groups = conv.stride, conv.padding, conv.dilation, conv.groups
        self.input_scale, self.output_scale = float(plan.input_scale), float(plan.output_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _qd.quantize_per_tensor.default(x, self.input_scale, 0, -128, 127, torch.int8)
        x = _qd.dequantize_per_tensor.default(x, self.input_scale, 0, -128, 127, torch.int8)
        w = _qd.dequantize_per_channel.default(self.wq, self.ws, self.wzp, 0, -127, 127, torch.int8)
        y = F.conv1d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)
        y = _qd.quantize_per_tensor.default(y, self.output_scale, 0, -128, 127, torch.int8)
        return _qd.dequantize_per_tensor.default(y, self.output_scale, 0, -128, 127, torch.int8)


def pair_swap(n: int) -> torch.Tensor:
    """The column order 1, 0, 3, 2, ...: swaps every even column with the next (its own inverse)."""
    return torch.arange(n).view(-1, 2).flip(1).reshape(-1)


def pack_int4_rows(q: torch.Tensor) -> torch.Tensor:
    """[V, D] int values in [-8, 7] -> [V, D/2] uint8, `(even + 8) << 4 | (odd + 8)` (embedding_4bit's layout)."""
    u = (q.to(torch.int16) + 8).to(torch.uint8).reshape(q.shape[0], -1, 2)
    return ((u[:, :, 0] << 4) | u[:, :, 1]).contiguous()


class QEmbedding(nn.Module):
    """Token lookup on an integer table: quantized_decomposed::embedding_byte (8 bit) or embedding_4bit (4 bit).

    4-bit tables keep bf16 scales, like XNNPACK's 4-bit linears (qc4w / qb4w store bf16 scales): each scale costs 2
    bytes in the file and the lookup computes what `myqasr.simulate` computes with bf16-rounded scales.

    `xnnpack_nibbles`: store a 4-bit table in the byte order of XNNPACK's 4-bit weights (`odd << 4 | even`, where
    embedding_4bit reads `even << 4 | odd`), so that the table and a tied XNNPACK projection are the same bytes and
    one copy serves both (the asr-runner target). The lookup then reads the columns pairwise swapped and puts them
    back in order (an index_select on the `dim` outputs): same numbers."""

    def __init__(self, q: torch.Tensor, scale: torch.Tensor, fmt: Format, xnnpack_nibbles: bool = False):
        super().__init__()
        vocab, dim = q.shape
        self.num_embeddings, self.embedding_dim = vocab, dim
        self.bits = storage_bits(fmt)
        s = scale.detach().float()
        s = s.reshape(vocab, -1) if fmt.granularity == "per_group" else s.reshape(vocab)
        self.register_buffer("scales", s.contiguous())
        self.swapped = self.bits == 4 and xnnpack_nibbles
        if self.swapped:
            self.register_buffer("order", pair_swap(dim))
        if self.bits == 4:
            self.scales = self.scales.to(torch.bfloat16)
            self.register_buffer("table", pack_int4_rows(q[:, pair_swap(dim)] if self.swapped else q))
        else:
            self.register_buffer("table", q.to(torch.int8).contiguous())

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        if self.bits == 4:
            x = _qd.embedding_4bit.dtype(self.table, self.scales, None, -8, 7, ids, dtype=torch.float32)
            return torch.index_select(x, -1, self.order) if self.swapped else x
        return _qd.embedding_byte.default(self.table, self.scales, None, -127, 127, ids)


# ---------------------------------------------------------------------------------------------------------------------
# Applying a scheme
# ---------------------------------------------------------------------------------------------------------------------

def scheme_integers(model: nn.Module, plan: LayerPlan, scheme: Scheme) -> tuple[torch.Tensor, torch.Tensor]:
    """The integer weights and scales the scheme fixes for one quantized layer."""
    module = model.get_submodule(plan.name)
    scale = scheme.weight_scales[plan.weight_scale_key]
    w = module.weight.detach().float()
    if tuple(w.shape) != tuple(plan.layer.shape):
        raise MyqasrError(f"layer {plan.name}: weight shape {tuple(w.shape)} differs from the scheme's "
                          f"{tuple(plan.layer.shape)}")
    return quantize_weight(w, plan.format, scale), scale


def apply_scheme(model: nn.Module, scheme: Scheme, inplace: bool = False, shared_table: bool = False) -> nn.Module:
    """A copy of `model` in which every quantized layer of `scheme` is its exportable quantized module.
    `shared_table`: a table with a layer tied to it stores its 4-bit rows in XNNPACK's nibble order (see QEmbedding)."""
    qm = model if inplace else copy.deepcopy(model)
    names = dict(qm.named_modules())
    for plan in scheme.layers:
        fmt = plan.format
        if plan.name not in names:
            raise MyqasrError(f"scheme layer {plan.name} is not a module of the model")
        if not fmt.quantized:
            continue
        module = qm.get_submodule(plan.name)
        q, scale = scheme_integers(qm, plan, scheme)
        kind = plan.layer.kind
        if kind == "linear":
            set_module(qm, plan.name, quantized_linear(module, q, scale, fmt))
        elif kind == "conv1d":
            if fmt.activation != "static_int8":
                raise MyqasrError(f"layer {plan.name}: conv1d needs static int8 activations (got {fmt.activation})")
            set_module(qm, plan.name, QConv1d(module, q, scale, plan))
        elif kind == "embedding":
            if fmt.granularity == "per_group" and storage_bits(fmt) != 4:
                raise MyqasrError(f"layer {plan.name}: per-group embedding tables are 4-bit only (got {fmt.name})")
            tied = any(p.layer.tied_to == plan.name for p in scheme.layers)
            set_module(qm, plan.name, QEmbedding(q, scale, fmt, xnnpack_nibbles=shared_table and tied))
        else:
            raise MyqasrError(f"layer {plan.name}: unknown layer kind {kind!r}")
    return qm


# ---------------------------------------------------------------------------------------------------------------------
# Lowering and the delegation gate
# ---------------------------------------------------------------------------------------------------------------------

# Ops that must never run outside the XNNPACK delegate (checked on the edge program here, and on the serialized
# file by myqasr_export.verify.file_gate): a quantized layer left behind computes wrong numbers
# (weight-only paths) or runs at portable-kernel speed.
GATED_OPS = ("linear", "addmm", "convolution", "quantize_per", "dequantize_per", "choose_qparams", "dequantize_affine",
          "quantize_affine", "_weight_int")


@dataclass
class GateReport:
    delegated_subgraphs: dict[str, int] = field(default_factory=dict)
    undelegated: dict[str, dict[str, int]] = field(default_factory=dict)   # method -> op -> count (all ops)
    offending: dict[str, dict[str, int]] = field(default_factory=dict)     # method -> gated op -> count

    @property
    def ok(self) -> bool:
        return not any(self.offending.values())


def _op_name(target) -> str:
    name = getattr(target, "__name__", None) or str(target)
    return name


def delegation_report(edge) -> GateReport:
    """Per method: number of XNNPACK subgraphs and every call_function left outside a delegate."""
    report = GateReport()
    for method in edge.methods:
        gm = edge.exported_program(method).graph_module
        n_del, ops, bad = 0, {}, {}
        for node in gm.graph.nodes:
            if node.op != "call_function":
                continue
            name = _op_name(node.target)
            if "executorch_call_delegate" in name:
                n_del += 1
                continue
            if name in ("getitem",) or name.startswith("getitem"):
                continue
            ops[name] = ops.get(name, 0) + 1
            if any(g in name for g in GATED_OPS):
                bad[name] = bad.get(name, 0) + 1
        report.delegated_subgraphs[method] = n_del
        report.undelegated[method] = ops
        report.offending[method] = bad
    return report


def check_delegation(report: GateReport) -> None:
    if not report.ok:
        detail = "; ".join(f"{m}: " + ", ".join(f"{k} x{v}" for k, v in sorted(ops.items()))
                           for m, ops in report.offending.items() if ops)
        raise MyqasrError(f"export refused: quantized or linear/conv ops left outside the XNNPACK delegate ({detail})")


def reroute_shape_reads(gm: torch.fx.GraphModule):
    """Make `sym_size(x)` read the shape of x's dequantized copy when x feeds a quantize op (an edge-dialect pass).

    With a dynamic length, decomposition (e.g. of group norm) takes a symbolic size from the first tensor that has
    it: the raw conv output. That extra user stops XNNPACK from fusing conv -> quantize ("Expected quantized node
    to have a single output") and leaves the conv undelegated. The dequantized tensor has the same shape."""
    from torch.fx.passes.infra.pass_base import PassResult

    moved = 0
    for node in list(gm.graph.nodes):
        if node.op != "call_function" or "sym_size" not in _op_name(node.target):
            continue
        src = node.args[0]
        qs = [u for u in src.users if u.op == "call_function" and "quantize_per_tensor" in _op_name(u.target)
              and "dequantize" not in _op_name(u.target)]
        dqs = [u for q in qs[:1] for u in q.users
               if u.op == "call_function" and "dequantize_per_tensor" in _op_name(u.target)]
        if dqs:
            node.replace_input_with(src, dqs[0])
            dqs[0].append(node)      # keep the graph topologically ordered: read the size after the dequantize
            moved += 1
    if moved:
        gm.recompile()
    return PassResult(gm, bool(moved))


def _restore_ranges(ranges: dict, edge) -> None:
    """Undo the narrowing of dynamic-dimension ranges that happens while lowering.

    Fake-tensor conv (`_select_conv_backend`) evaluates a size guard on the example shape and narrows the symbol's
    range in the shared ShapeEnv (e.g. frames <= 64 for a 50-frame example), and memory planning then sizes the
    input for that bound: longer inputs fail with "Attempted to resize a bounded tensor". The guard only picks an
    eager conv backend, so the exported ranges are restored before memory planning."""
    for method, rc in ranges.items():
        if not rc:
            continue
        gm = edge.exported_program(method).graph_module
        for node in gm.graph.nodes:
            val = node.meta.get("val") if node.op == "placeholder" else None
            shape = getattr(val, "shape", ())
            envs = {d.node.shape_env for d in shape if isinstance(d, torch.SymInt)}
            for env in envs:
                for sym, vr in rc.items():
                    if sym in env.var_to_range:
                        env.var_to_range[sym] = vr


def lower(programs: dict, *, external_constants=None, constant_methods: dict | None = None, reinplace: bool = True):
    """ExportedPrograms by method name -> (ExecutorchProgramManager, GateReport). Raises MyqasrError on a gate failure."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass

    ranges = {name: dict(ep.range_constraints) for name, ep in programs.items()}
    edge = to_edge_transform_and_lower(programs, transform_passes=[reroute_shape_reads],
                                       partitioner=[XnnpackPartitioner()],
                                       compile_config=EdgeCompileConfig(_check_ir_validity=False),
                                       constant_methods=constant_methods)
    _restore_ranges(ranges, edge)
    report = delegation_report(edge)
    check_delegation(report)
    # Inputs are not memory-planned: the runtime reads the caller's tensors in place instead of copying them into
    # the program's arena at every call (Whisper's text_decoder takes 8 x 2.3 MB of cross K/V per token; measured in
    # benchmarks/results/perf_findings.md). Method::set_input shares the data of an unplanned input.
    cfg = dict(extract_delegate_segments=True, memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False),
               run_reinplace_pass=reinplace)
    if external_constants is not None:
        cfg["external_constants"] = external_constants
    return edge.to_executorch(ExecutorchBackendConfig(**cfg)), report
