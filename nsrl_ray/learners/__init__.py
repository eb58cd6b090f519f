"""RLlib Learner subclasses: PPO with soft teacher supervision for formula constants."""
