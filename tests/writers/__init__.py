"""Writers of tiny, learnable fixtures in each dataset\x27s official on-disk format."""
