"""The pipeline and (next) the loop controller that drive every stage."""
