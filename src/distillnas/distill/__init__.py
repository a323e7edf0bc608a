"""Distillation losses looked up by name."""
from .losses import (LOSSES, CELoss, FeatureMSE, KDLoss, LossConfig, ODLoss, TeacherOutput, WeightedSum, build_loss,
                     ce_loss, kd_loss, od_loss, oracle_teacher_logits, parse_loss_spec)
from .methods import cc_loss, dist_loss, dkd_loss, pkt_loss, rkd_loss, sp_loss

__all__ = ["LOSSES", "CELoss", "FeatureMSE", "KDLoss", "LossConfig", "ODLoss", "TeacherOutput", "WeightedSum",
           "build_loss", "cc_loss", "ce_loss", "dist_loss", "dkd_loss", "kd_loss", "od_loss", "oracle_teacher_logits",
           "parse_loss_spec", "pkt_loss", "rkd_loss", "sp_loss"]
