"""A plain multilayer perceptron: linear layers with ReLU between them."""

from torch import nn

__all__ = ["UrukMLP"]


class UrukMLP(nn.Module):
    """`in_features -> hidden_sizes[0] -> ... -> out_features`, ReLU after every hidden layer.

    Args:
        in_features (`int`): input features (the last dimension of the input).
        hidden_sizes (`list[int]`): width of each hidden layer.
        out_features (`int`): output features.
    """

    def __init__(self, in_features: int, hidden_sizes: list[int], out_features: int):
        super().__init__()
        layers, width = [], in_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        layers.append(nn.Linear(width, out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, features):
        return self.layers(features)
