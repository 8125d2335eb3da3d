"""What merchandising needs from a training run: item attributes, the content index, new arrivals,
frequently-bought-together lists, the rules file and the margin trade-off (training/merchandising/build.py)."""
