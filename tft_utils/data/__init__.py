"""Layer 4, data (notebooks 01, 02): the SGD files (`sgd`), the study's traces, test set and tools
(`traces`), the five scenarios (`scenarios`) and their figures (`figures`)."""
