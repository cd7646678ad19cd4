# Reviewer's input (F5): recurrent layers over 64 tokens; each counts once per stacked layer, not once per step.
# expect: ok, weighted layers 6: patch, LSTM (1 layer), RNN (2 layers), GRU (1 layer, both directions in parallel),
# head (the autograd walk counted every time step: 322)
# parameters: patch 16*48+16 = 784; LSTM(16, 32, proj 8): 128*16 + 128*8 + 2*128 + 8*32 = 3,584;
# RNN(8, 24, 2 layers): 24*8 + 24*24 + 48 + 24*24 + 24*24 + 48 = 2,016; GRU(24, 12, bidirectional):
# 2 * (36*24 + 36*12 + 72) = 2,736; head 24*10+10 = 250 -> 9,370
# MACs: patch 16*64*48 = 49,152; LSTM 64 * (128*16 + 128*8 + 8*32) = 212,992; RNN 64 * (192 + 576 + 576 + 576)
# = 122,880; GRU 2 * 64 * (36*24 + 36*12) = 165,888; head 240 -> 551,152

import torch
from torch import nn

class Net(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, stride=4)
        self.lstm = nn.LSTM(16, 32, proj_size=8, batch_first=True)
        self.rnn = nn.RNN(8, 24, num_layers=2, nonlinearity="relu", batch_first=True)
        self.gru = nn.GRU(24, 12, bidirectional=True, batch_first=True)
        self.head = nn.Linear(24, num_classes)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t, _ = self.lstm(t)
        t, _ = self.rnn(t)
        t, _ = self.gru(t)
        return self.head(t.mean(1))

def build_model(num_classes):
    return Net(num_classes)
