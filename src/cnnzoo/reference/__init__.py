"""The published numbers: accuracies of weights and papers, and the papers' result tables, as data."""
