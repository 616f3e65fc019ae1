"""GCN (Kipf and Welling 2016): semi-supervised node classification on Cora, Citeseer, karate."""
