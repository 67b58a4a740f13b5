// ConfigLoader lands here.
