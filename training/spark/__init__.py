"""The Spark engine (`python -m training run --engine spark`): the same job on Apache Spark.

Distributed: reading and validating the events (any path Spark reads), the aggregates of the ranking
stage (item statistics, co-purchase and co-view co-occurrence, item-kNN, the EASE Gram matrix, MLlib ALS),
per-customer candidates, features and scores on user partitions, and the per-user Redis writes. On the
driver: the ranker's training on a seeded sample of customers, the atomic version switch, and the stages
that work on the whole event table (the hybrid's tuning and evaluation, customers, merchandising, offers).
See docs/spark.md.
"""
