"""The whole job on the real embedded Whisper tiny.en: `myqasr personalize` -> a .pte within budget that the real
ExecuTorch runtime transcribes, plus `myqasr run` on it."""
import json

from myqasr.adapters import adapter_for, rest_params
from myqasr.allocate import uniform
from myqasr.cli import main
from myqasr.formats import get_ladder
from myqasr.size import MB, PROFILES, model_bytes


def test_personalize_all_int8_budget_end_to_end(embedded, tmp_path, capsys):
    layers = adapter_for("whisper", embedded.processor).layers(embedded.model)
    int8 = model_bytes(layers, uniform(layers, get_ladder("xnnpack"), 1), rest_params(embedded.model, layers),
                       PROFILES["xnnpack"])
    budget_mb = round(int8 / MB + 0.005, 2)
    out = tmp_path / "model.pte"
    assert main(["personalize", "--budget-mb", str(budget_mb), "--out", str(out), "--threads", "2"]) == 0
    text = capsys.readouterr().out
    real = out.stat().st_size
    assert real <= budget_mb * MB and real >= 0.97 * budget_mb * MB, (real, budget_mb)
    for suffix in (".vocab.json", ".scheme.json", ".scheme.scales.safetensors", ".report.md"):
        assert (tmp_path / f"model{suffix}").is_file(), suffix
    vocab = json.loads((tmp_path / "model.vocab.json").read_text())
    assert vocab["arch"] == "whisper" and len(vocab["tokens"]) == 51864
    assert "verify: " in text and "delegation gate ok" in text
    report = (tmp_path / "model.report.md").read_text()
    assert "| .pte (ExecuTorch) |" in report and "| full precision |" in report and "fits" in report
    pte_wer = [l for l in text.splitlines() if l.strip().startswith(".pte")][0]
    fp_wer = [l for l in text.splitlines() if l.strip().startswith("full precision")][0]
    assert float(pte_wer.split("WER")[1].split("%")[0]) <= float(fp_wer.split("WER")[1].split("%")[0]) + 5.0

    from myqasr.audio import SAMPLE_USER_DIR
    assert main(["run", str(out), str(SAMPLE_USER_DIR / "test" / "008.wav"), "--threads", "1"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "008.wav" in line and "RTF" in line and len(line.split("'")[1]) > 5
