"""myqasr_export: the only part of myqasr that imports ExecuTorch (and only inside functions that need it).

    from myqasr_export.exporter import export_scheme        # scheme + LoadedModel -> .pte + .vocab.json
    from myqasr_export.runner import run_pte                # transcribe clips with a .pte on the host
    from myqasr_export.verify import verify_pte             # delegation gate + numbers vs simulate()
    from myqasr_export.personalize import personalize       # clips + budget -> verified .pte + report
    from myqasr_export.size import pte_bytes, predicted_bytes

Stages: lower.apply_scheme (scheme integers -> quantized modules) -> whisper / wav2vec2 (torch.export of each
method) -> lower.lower (XNNPACK, delegation gate) -> exporter.export_scheme (the .pte + vocabulary pair, atomic).
Imports flow one way: this package imports myqasr; myqasr never imports this package.
"""
