"""The ranking stage: features, LightGBM LambdaRank ranker, reasons and the `stage.rank` entry."""
