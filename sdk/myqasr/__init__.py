"""myqasr: label-free, personalized mixed-precision quantization of speech recognition models for phones."""
__version__ = "0.1.0"
