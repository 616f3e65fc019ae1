"""BitNet b1.58 (Ma et al. 2024): the GPT of models/16_gpt with ternary linear layers."""
