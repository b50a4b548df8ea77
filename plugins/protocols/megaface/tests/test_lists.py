"""Devkit JSON, insightface noise list and image list readers, on files in the real formats."""
from __future__ import annotations

import json

import numpy as np
import pytest

from facex_protocol_megaface.lists import ListFormatError, read_distractor_list, read_facescrub_noises, \
    read_image_list, read_megaface_noises, read_probe_list
from facex_protocol_megaface.noise import facescrub_noise_mask, megaface_key, megaface_noise_mask, \
    person_of, replace_facescrub_noise

# The devkit writes one JSON object per list; FaceScrub's has parallel 'path' and 'id' lists.
FACESCRUB = {"path": ["Aaron_Eckhart/Aaron_Eckhart_136.png", "Aaron_Eckhart/Aaron_Eckhart_221.png",
                      "Adam_Brody/Adam_Brody_10001.png"],
             "id": ["Aaron_Eckhart", "Aaron_Eckhart", "Adam_Brody"]}
MEGAFACE = {"path": ["375/37531198@N00/4174611825_0.jpg", "925/92596048@N00/3910487430_2.jpg"]}
# insightface's lists start with a '#' comment line.
FS_NOISES = ("#Please strictly follow the rules in https://github.com/deepinsight/insightface/tree/"
             "master/src/megaface/README.md if you want to use this list.\n"
             "Aaron_Eckhart_136.png\nAaron_Eckhart_221.png\nAdam_McKay_468.png\n")
MF_NOISES = ("#Please strictly follow the rules in https://github.com/deepinsight/insightface/tree/"
             "master/src/megaface/README.md if you want to use this list.\n"
             "375/37531198@N00/4174611825_0.jpg\n"
             "1\t925/92596048@N00/3910487430_2.jpg\n\n")


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_devkit_json_lists(tmp_path):
    probes = read_probe_list(write(tmp_path, "facescrub_features_list.json", FACESCRUB))
    assert probes.paths == FACESCRUB["path"] and probes.ids == FACESCRUB["id"]
    assert read_distractor_list(write(tmp_path, "megaface_features_list.json_2_1", MEGAFACE)) == MEGAFACE["path"]


def test_numeric_ids_become_strings(tmp_path):
    probes = read_probe_list(write(tmp_path, "fs.json", {"path": ["a/a_1.png", "a/a_2.png"], "id": [7, 7]}))
    assert probes.ids == ["7", "7"]


@pytest.mark.parametrize("content, message", [
    ('{"path": ["a/a_1.png"],\n "id": [1,,]}', r"fs\.json:2: invalid JSON"),
    ({"path": ["a/a_1.png"]}, "no 'id' list"),
    ({"path": ["a/a_1.png", "a/a_2.png"], "id": ["a"]}, "'path' has 2 entries but 'id' has 1"),
    ({"path": ["a/a_1.png", "a/a_1.png"], "id": ["a", "a"]}, r"path\[1\] 'a/a_1.png' is listed twice"),
    ({"path": [], "id": []}, "'path' must be a non-empty list"),
    ({"path": ["a/a_1.png", None], "id": ["a", "a"]}, r"path\[1\] must be a string"),
    (["a/a_1.png"], "expected a JSON object"),
])
def test_probe_list_errors_name_the_file(tmp_path, content, message):
    path = write(tmp_path, "fs.json", content)
    with pytest.raises(ListFormatError, match=message) as info:
        read_probe_list(path)
    assert str(path) in str(info.value)


def test_missing_list_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json: MegaFace distractor list not found"):
        read_distractor_list(tmp_path / "nope.json")


def test_noise_lists_skip_comments_and_read_tab_form(tmp_path):
    assert read_facescrub_noises(write(tmp_path, "facescrub_noises.txt", FS_NOISES)) == [
        "Aaron_Eckhart_136.png", "Aaron_Eckhart_221.png", "Adam_McKay_468.png"]
    assert read_megaface_noises(write(tmp_path, "megaface_noises.txt", MF_NOISES)) == [
        "375/37531198@N00/4174611825_0.jpg", "925/92596048@N00/3910487430_2.jpg"]


@pytest.mark.parametrize("reader, line", [
    (read_facescrub_noises, "NoUnderscore.png"),
    (read_facescrub_noises, "Aaron_Eckhart/Aaron_Eckhart_136.png"),
    (read_megaface_noises, "37531198@N00/4174611825_0.jpg"),
    (read_megaface_noises, "1\t4174611825_0.jpg"),
])
def test_malformed_noise_line_names_file_and_line(tmp_path, reader, line):
    path = write(tmp_path, "noises.txt", "#comment\nAaron_Eckhart_1.png\n" if reader is read_facescrub_noises
                 else "#comment\n375/37531198@N00/4174611825_0.jpg\n")
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(ListFormatError, match=f"{path}:3:"):
        reader(path)


def test_image_list(tmp_path):
    path = write(tmp_path, "img_list.txt", "facescrub_crop/A B/A B_1.jpg\n\nmegaface_crop/1/2/3.jpg\n")
    assert read_image_list(path) == {"facescrub_crop/A B/A B_1.jpg", "megaface_crop/1/2/3.jpg"}


# -- matching and cleaning rules -----------------------------------------------------------------

def test_noise_matching_ignores_extension_and_spaces():
    paths = ["Aaron Eckhart/Aaron Eckhart_136.jpg", "Aaron_Eckhart/Aaron_Eckhart_137.png"]
    np.testing.assert_array_equal(facescrub_noise_mask(paths, ["Aaron_Eckhart_136.png"]), [True, False])
    assert person_of(paths[0]) == person_of(paths[1]) == "Aaron_Eckhart"
    # Distractors match on their last three parts, with or without a leading folder.
    assert megaface_key("FlickrFinal2/375/37531198@N00/4174611825_0.png") == "375/37531198@N00/4174611825_0"
    np.testing.assert_array_equal(
        megaface_noise_mask(["FlickrFinal2/375/37531198@N00/4174611825_0.jpg", "375/1@N00/2_0.jpg"],
                            ["375/37531198@N00/4174611825_0.jpg"]), [True, False])


def test_facescrub_noise_gets_normalised_mean_of_clean_images_of_the_person():
    paths = ["A/A_1.png", "A/A_2.png", "A/A_3.png", "B/B_1.png", "B/B_2.png"]
    feats = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1]], dtype=np.float32)
    noisy = np.array([False, False, True, False, True])
    out = replace_facescrub_noise(feats, paths, noisy)
    np.testing.assert_allclose(out[2], [2 ** -0.5, 2 ** -0.5, 0], rtol=1e-6)  # mean of A_1, A_2
    np.testing.assert_allclose(out[4], [2 ** -0.5, 2 ** -0.5, 0], rtol=1e-6)  # B_1 alone
    np.testing.assert_array_equal(out[~noisy], feats[~noisy])
    assert feats[2, 2] == 1  # the input is not modified


def test_person_with_only_noise_is_an_error():
    feats = np.eye(2, dtype=np.float32)
    with pytest.raises(ValueError, match="'B' has only noise images"):
        replace_facescrub_noise(feats, ["A/A_1.png", "B/B_1.png"], np.array([False, True]))
