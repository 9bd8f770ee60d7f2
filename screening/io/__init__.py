"""Input and output at the edges: image discovery, plate maps, TIFF reading, atomic writes."""
