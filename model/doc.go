// Package model holds the layers, models and trainer of emotion. Layers
// compute with host.Backend ops only; each owns its output and
// input-gradient buffers, which grow only when a bigger shape arrives.
//
// # Layers
//
// Every layer follows the same contract:
//   - Forward returns a layer-owned buffer valid until the next Forward and
//     keeps what Backward needs (the inputs it names must stay unchanged
//     until then);
//   - Backward accumulates parameter gradients into Param.Grad (the
//     optimiser zeroes them) and returns the gradient of the input, also
//     layer-owned;
//   - Release returns every buffer, parameters included, to the backend.
//
// Sizes are passed explicitly (batch, steps, features); ragged sequences
// come with lengths, an int32 buffer of one length per sequence.
//
// # PyTorch state_dict mapping
//
// Parameters are named and laid out (row-major) as the state_dict of the
// PyTorch module on the right, under whatever prefix the model gives the
// layer, so a checkpoint loads into PyTorch unchanged:
//
//	layer                  parameter                      shape        PyTorch module
//	Embedding              weight                         [V, E]       nn.Embedding(V, E, padding_idx)
//	Linear                 weight, bias                   [out, in], [out]  nn.Linear(in, out)
//	LSTM (per direction;   weight_ih_l{k}[_reverse]       [4H, in]     nn.LSTM(in, H, batch_first=True,
//	  gates i, f, g, o)    weight_hh_l{k}[_reverse]       [4H, H]        bidirectional=…), layer k
//	                       bias_ih_l{k}[_reverse]         [4H]
//	                       bias_hh_l{k}[_reverse]         [4H]
//	MultiheadAttention     in_proj_weight                 [3E, E]      nn.MultiheadAttention(E, heads,
//	  (rows q, k, v)       in_proj_bias                   [3E]           batch_first=True)
//	                       out_proj.weight                [E, E]
//	                       out_proj.bias                  [E]
//	AttentionPool          proj.weight                    [A, in]      proj = nn.Linear(in, A)
//	                       proj.bias                      [A]
//	                       context.weight                 [1, A]       context = nn.Linear(A, 1, bias=False)
//
// ReLU, Tanh, Dropout, MeanPool and CrossEntropyLoss have no parameters
// (CrossEntropyLoss's class weights are a constructor argument, as
// nn.CrossEntropyLoss's weight, not a state_dict entry). AttentionPool
// matches a PyTorch module
//
//	class AttentionPool(nn.Module):
//	    def __init__(self, d, a):
//	        super().__init__()
//	        self.proj = nn.Linear(d, a)
//	        self.context = nn.Linear(a, 1, bias=False)
//	    def forward(self, x, mask):  # mask: True at padding
//	        s = self.context(torch.tanh(self.proj(x))).squeeze(-1)
//	        w = s.masked_fill(mask, float("-inf")).softmax(-1)
//	        return (w.unsqueeze(-1) * x).sum(1), w
//
// # Initialisation
//
// Parameters are drawn from a seeded RNG (SplitMix64) with PyTorch's
// default distributions: Linear weight and bias U(−1/√in, 1/√in); every LSTM
// weight and bias U(−1/√H, 1/√H); Embedding N(0, 1) with the padding row
// zero; MultiheadAttention in_proj_weight xavier-uniform, in_proj_bias and
// out_proj.bias zero, out_proj.weight as a Linear's. The draws are not
// PyTorch's own random numbers.
package model
