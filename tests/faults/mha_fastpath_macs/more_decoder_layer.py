# A conv patch stem, then one nn.TransformerDecoderLayer that attends to its own tokens (self- and
# cross-attention on the same 64 tokens), mean-pooled head. In eval + no_grad the self-attention
# takes torch's fused fast path.
#
# MACs per 3x32x32 image, by hand (64 tokens, dim 32, 4 heads of 8, feed-forward 64):
#   patch conv      32 * 8 * 8 * 3 * 4 * 4                    =    98,304
#   self-attention  in-proj 64 * 32 * 96          = 196,608
#                   QK^T 4 * 64 * 64 * 8          = 131,072
#                   AV   4 * 64 * 64 * 8          = 131,072
#                   out-proj 64 * 32 * 32         =  65,536  =   524,288
#   cross-attention (same sizes)                              =   524,288
#   feed-forward    64 * 32 * 64 * 2                          =   262,144
#   head            32 * 10                                   =       320
#   total                                                     = 1,409,344
# Parameters: conv 1,568 + self-attention 4,224 + cross-attention 4,224 + feed-forward 4,192
#             + three layer norms 192 + head 330 = 14,730
import torch
from torch import nn


class DecoderNet(nn.Module):
    def __init__(self, num_classes: int, dim: int = 32) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, kernel_size=4, stride=4)
        self.layer = nn.TransformerDecoderLayer(dim, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        return self.head(self.layer(tokens, tokens).mean(dim=1))


def build_model(num_classes: int) -> nn.Module:
    return DecoderNet(num_classes)
