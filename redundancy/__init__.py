"""redundancy: where redundancy lives in trained neural networks."""
__version__ = "0.1.0"
