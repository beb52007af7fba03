"""Writers of tiny, learnable fixtures in each dataset's official on-disk format."""
