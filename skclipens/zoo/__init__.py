"""A small zoo of CLIP backbones of different architectures, trained on scikit-learn's digits."""

__all__: list[str] = []
