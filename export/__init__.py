"""myqasr.export: the only part of myqasr that imports ExecuTorch (and only inside functions that need it).

    from myqasr.export.cli import export_scheme, run_pte      # scheme + LoadedModel -> .pte + .vocab.json; run it
    from myqasr.export.verify import verify_pte               # delegation gate, parity vs simulate(), transcripts
    from myqasr.export.size import pte_bytes, predicted_bytes # real vs predicted bytes

Stages: lower.apply_scheme (scheme integers -> quantized modules) -> whisper / wav2vec2 (torch.export of each
method) -> lower.lower (XNNPACK, delegation gate) -> cli.export_scheme (atomic write, vocabulary file).
"""
