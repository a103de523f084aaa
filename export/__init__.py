"""myqasr.export: the only part of myqasr that imports ExecuTorch."""
