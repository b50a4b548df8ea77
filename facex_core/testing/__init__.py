"""Test helpers for FaceX components: interface contracts, margin-head references, plugin distributions."""
from .contracts import (calibrate_batchnorm, check_backbone, check_backbone_export, check_backbone_stages, check_head,
                        check_map_size_config, check_protocol, count_parameters)
from .distill import check_distill_loss_matches_reference
from .heads import (check_head_at_alignment, check_head_autocast, check_head_matches_reference, check_head_partial_fc,
                    check_head_sharded, collect_results, reference_cosines, reference_cross_entropy)
from .plugins import FakeSite, assert_light_module, installed, reset_registry, run_cli, torch_threads

__all__ = ["FakeSite", "assert_light_module", "calibrate_batchnorm", "check_backbone", "check_backbone_export",
           "check_backbone_stages", "check_distill_loss_matches_reference", "check_head",
           "check_head_at_alignment", "check_head_autocast", "check_head_matches_reference",
           "check_head_partial_fc", "check_head_sharded", "check_map_size_config", "check_protocol",
           "collect_results", "count_parameters", "installed", "reference_cosines", "reference_cross_entropy",
           "reset_registry", "run_cli", "torch_threads"]
