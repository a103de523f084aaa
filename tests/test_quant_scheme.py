"""Quantizer arithmetic, simulated modules and the scheme file."""
import json

import pytest
import torch
from torch import nn

from myqasr.errors import MyqasrError
from myqasr.formats import get_ladder
from myqasr.layers import Layer
from myqasr.quant import (dequantize_weight, fake_quant_dynamic_per_token, fake_quant_static, minmax_weight_scale,
                          quantize_weight)
from myqasr.scheme import LayerPlan, Scheme, check_scheme_matches, load_scheme, save_scheme, scales_path_for
from myqasr.simulate import SimConv1d, SimLinear, simulate

XNN = get_ladder("xnnpack")
INT8, INT4 = XNN["linear"][1], XNN["linear"][2]


@pytest.mark.parametrize("fmt", [INT8, INT4])
def test_weight_quantization_grid_and_error(fmt):
    w = torch.randn(48, 96)
    s = minmax_weight_scale(w, fmt)
    q = quantize_weight(w, fmt, s)
    assert q.dtype == torch.int8 and int(q.abs().max()) == fmt.qmax
    assert s.shape == ((48,) if fmt.granularity == "per_channel" else (48, 96 // fmt.group_size))
    err = (dequantize_weight(q, fmt, s) - w).abs()
    step = s if s.dim() == 1 else s.repeat_interleave(fmt.group_size, 1)
    assert bool((err <= step.reshape(48, -1) / 2 + 1e-6).all())


def test_dynamic_per_token_quantization_is_int8_grid_per_row():
    x = torch.randn(3, 5, 64) * torch.tensor([0.1, 1.0, 10.0]).reshape(3, 1, 1)
    y = fake_quant_dynamic_per_token(x)
    rel = (y - x).abs().amax(-1) / (x.amax(-1) - x.amin(-1))
    assert bool((rel <= 0.5 / 255 + 1e-6).all())
    assert bool((fake_quant_dynamic_per_token(torch.zeros(2, 4)) == 0).all())


def test_static_quantization_clamps_to_range():
    y = fake_quant_static(torch.tensor([-10.0, 0.3, 10.0]), 0.01)
    assert torch.allclose(y, torch.tensor([-1.28, 0.30, 1.27]))


class Toy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 64)
        self.emb = nn.Embedding(50, 64)
        self.head = nn.Linear(64, 50, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, x, ids):
        h = self.fc(self.conv(x).transpose(1, 2))
        return self.head(h + self.emb(ids))


def toy_scheme(model):
    layers = [Layer("conv", "conv1d", (16, 8, 3), True), Layer("fc", "linear", (64, 16), True),
              Layer("emb", "embedding", (50, 64), False), Layer("head", "linear", (50, 64), False, tied_to="emb")]
    # the tied pair takes two formats: the lookup int4 per group, the projection int8 per channel
    fmts = {"conv": XNN["conv1d"][1], "fc": INT8, "emb": XNN["embedding"][2], "head": INT8}
    scales = {f"{l.name}.weight_scale": minmax_weight_scale(model.get_submodule(l.name).weight, fmts[l.name])
              for l in layers}
    plans = [LayerPlan(l, fmts[l.name], sensitivity=float(i), input_scale=0.05 if l.kind == "conv1d" else None,
                       output_scale=0.04 if l.kind == "conv1d" else None) for i, l in enumerate(layers)]
    return Scheme("toy", "whisper", "0" * 64, "xnnpack", plans, scales, predicted_bytes=123, rest_params=0,
                  budget_bytes=200, allocation={"order": "ascending"}, calibration={"method": "minmax"},
                  clips={"count": 1})


def test_simulate_replaces_layers_and_computes_the_format():
    torch.manual_seed(0)
    model = Toy().eval()
    scheme = toy_scheme(model)
    sim = simulate(model, scheme)
    assert isinstance(sim.conv, SimConv1d) and isinstance(sim.fc, SimLinear) and isinstance(sim.head, SimLinear)
    assert isinstance(model.fc, nn.Linear), "the original model is untouched"
    x, ids = torch.randn(2, 8, 10), torch.randint(0, 50, (2, 10))
    # the same computation written out by hand
    conv_s = scheme.weight_scales["conv.weight_scale"]
    wq = dequantize_weight(quantize_weight(model.conv.weight, XNN["conv1d"][1], conv_s), XNN["conv1d"][1], conv_s)
    c = fake_quant_static(torch.nn.functional.conv1d(fake_quant_static(x, 0.05), wq, model.conv.bias, padding=1), 0.04)
    fs = scheme.weight_scales["fc.weight_scale"]
    fw = dequantize_weight(quantize_weight(model.fc.weight, INT8, fs), INT8, fs)
    h = torch.nn.functional.linear(fake_quant_dynamic_per_token(c.transpose(1, 2)), fw, model.fc.bias)
    es = scheme.weight_scales["emb.weight_scale"]
    ew = dequantize_weight(quantize_weight(model.emb.weight, XNN["embedding"][2], es),
                           XNN["embedding"][2], es)
    hs = scheme.weight_scales["head.weight_scale"]
    hw = dequantize_weight(quantize_weight(model.head.weight, INT8, hs), INT8, hs)
    ref = fake_quant_dynamic_per_token(h + ew[ids]) @ hw.T
    assert torch.allclose(sim(x, ids), ref, atol=1e-5)
    assert torch.equal(model.emb.weight, model.head.weight), "the tie of the fp32 model is kept"
    assert not torch.allclose(sim(x, ids), model(x, ids), atol=1e-3)


def test_scheme_roundtrip_and_validation(tmp_path):
    model = Toy()
    scheme = toy_scheme(model)
    path = save_scheme(scheme, tmp_path / "s.json")
    assert scales_path_for(path).is_file()
    back = load_scheme(path)
    assert [p.format for p in back.layers] == [p.format for p in scheme.layers]
    assert back.plan("conv").input_scale == 0.05 and back.plan("head").layer.tied_to == "emb"
    for k, v in scheme.weight_scales.items():
        assert torch.equal(back.weight_scales[k], v)
    d = json.loads(path.read_text())
    assert d["version"] == 2 and d["layers"][1]["format"]["bits"] == 8 and d["model"]["weights_sha256"]
    check_scheme_matches(back, "toy", "0" * 64)
    with pytest.raises(MyqasrError, match="planned for model 'toy'"):
        check_scheme_matches(back, "other", "1" * 64, str(path))


def test_bad_scheme_files_give_one_line_errors(tmp_path):
    path = save_scheme(toy_scheme(Toy()), tmp_path / "s.json")
    cases = {
        "missing.json": None,
        "garbage.json": "{not json",
        "other.json": json.dumps({"format": "something"}),
        "future.json": json.dumps({"format": "myqasr-scheme", "version": 99}),
    }
    for name, text in cases.items():
        p = tmp_path / name
        if text is not None:
            p.write_text(text)
        with pytest.raises(MyqasrError) as e:
            load_scheme(p)
        assert name in str(e.value) and "\n" not in str(e.value)
    scales_path_for(path).write_bytes(b"tampered")
    with pytest.raises(MyqasrError, match="does not match"):
        load_scheme(path)


def test_save_into_missing_directory_fails_cleanly(tmp_path):
    with pytest.raises(MyqasrError, match="does not exist"):
        save_scheme(toy_scheme(Toy()), tmp_path / "nope" / "s.json")
    assert not (tmp_path / "nope").exists()



# ---- formats read from files (the field checks and hand-edited schemes are in test_config.py) ---------------------

@pytest.mark.parametrize("d,needle", [
    ({"name": "int8_pc", "bits": True, "granularity": "per_channel"}, "bits must be"),      # JSON true is not 1
    ({"name": "int8_pc", "bits": "8", "granularity": "per_channel"}, "bits must be"),
    ({"name": "int8_pc", "bits": 8.0, "granularity": "per_channel"}, "bits must be"),
    ({"name": "int8_pc", "bits": None, "granularity": "per_channel"}, "bits must be"),
    ({"name": "int4_g32", "bits": 4, "granularity": "per_group", "group_size": True}, "group_size must be"),
    ({"name": "int4_g32", "bits": 4, "granularity": "per_group", "group_size": "32"}, "group_size must be"),
    ({"name": "int4_g32", "bits": 4, "granularity": "per_group", "group_size": -32}, "group_size must be"),
    (None, "expected the fields"), ([], "expected the fields"), ("int8_pc", "expected the fields"),
    ({"name": "int8_pc"}, "expected the fields"),
])
def test_format_from_dict_rejects_json_types_that_are_not_its_fields(d, needle):
    from myqasr.formats import Format
    with pytest.raises(MyqasrError) as e:
        Format.from_dict(d)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_runs_on_names_what_the_backend_lacks():
    from myqasr.formats import int_format, runs_on
    assert runs_on(int_format(4, "linear", 64), "linear", "xnnpack") is None      # any group size
    assert runs_on(int_format(8, "conv1d"), "conv1d", "xnnpack") is None
    assert "not on the xnnpack ladder" in runs_on(int_format(3, "linear"), "linear", "xnnpack")
    assert "not on the xnnpack ladder" in runs_on(int_format(8, "linear", activation="static_int8"), "linear",
                                                  "xnnpack")
    assert runs_on(int_format(3, "linear"), "linear", "research") is None
    assert "unknown backend" in runs_on(int_format(8, "linear"), "linear", "tpu")


def test_static_format_without_activation_scales_is_refused(tmp_path):
    path = save_scheme(toy_scheme(Toy()), tmp_path / "s.json")
    d = json.loads(path.read_text())
    d["layers"][0]["output_scale"] = None
    path.write_text(json.dumps(d))
    with pytest.raises(MyqasrError, match="conv: int8_pc_sa8 needs static input and output scales"):
        load_scheme(path)
