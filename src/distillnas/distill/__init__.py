"""Distillation losses looked up by name."""
from .losses import (LOSSES, CELoss, FeatureMSE, KDLoss, LossConfig, ODLoss, TeacherOutput, WeightedSum, build_loss,
                     ce_loss, kd_loss, od_loss, oracle_teacher_logits, parse_loss_spec)

__all__ = ["LOSSES", "CELoss", "FeatureMSE", "KDLoss", "LossConfig", "ODLoss", "TeacherOutput", "WeightedSum",
           "build_loss", "ce_loss", "kd_loss", "od_loss", "oracle_teacher_logits", "parse_loss_spec"]
