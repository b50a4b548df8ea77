"""IJB meta-file readers on small files in the real formats, and their errors."""
from __future__ import annotations

import numpy as np
import pytest

from facex_protocol_ijb.meta import MetaFormatError, read_face_scores, read_image_list, \
    read_template_media, read_template_pairs, read_template_subjects

# Lines as in insightface's IJBC/meta files.
TID_MID = "1.jpg 1 69544\n2.jpg 1 3720\n3.jpg 1 69544\n4.jpg 2 69545\n"
PAIRS = "1 11065 1\n1 11066 1\n2 11065 0\n"
PTS = ("1.jpg 46.060 62.026 87.785 60.323 68.851 77.656 52.162 99.875 86.450 98.648 0.999\n"
       "2.jpg 47.000 61.000 88.000 60.000 69.000 78.000 52.000 99.000 86.000 98.000 0.1\n")
# NIST's 1:N CSVs: a header, then one row per image of each template.
GALLERY = ("TEMPLATE_ID,SUBJECT_ID,FILENAME,SIGHTING_ID,FACIAL_HAIR,AGE,FACE_X,FACE_Y,FACE_WIDTH,FACE_HEIGHT\n"
           "1,1,img/1.jpg,1,0,2,10,10,50,60\n1,1,img/2.jpg,2,0,2,11,12,50,60\n"
           "5,4,frames/7.png,3,0,3,0,0,40,40\n")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_template_media(tmp_path):
    tm = read_template_media(write(tmp_path, "ijbc_face_tid_mid.txt", TID_MID))
    assert tm.images == ["1.jpg", "2.jpg", "3.jpg", "4.jpg"]
    np.testing.assert_array_equal(tm.templates, [1, 1, 1, 2])
    np.testing.assert_array_equal(tm.medias, [69544, 3720, 69544, 69545])


def test_template_pairs(tmp_path):
    pairs = read_template_pairs(write(tmp_path, "ijbc_template_pair_label.txt", PAIRS))
    np.testing.assert_array_equal(pairs.first, [1, 1, 2])
    np.testing.assert_array_equal(pairs.second, [11065, 11066, 11065])
    np.testing.assert_array_equal(pairs.same, [True, True, False])


def test_face_scores(tmp_path):
    assert read_face_scores(write(tmp_path, "ijbc_name_5pts_score.txt", PTS)) == {"1.jpg": 0.999, "2.jpg": 0.1}


def test_template_subjects_one_entry_per_template(tmp_path):
    lst = read_template_subjects(write(tmp_path, "ijbc_1N_gallery_G1.csv", GALLERY))
    np.testing.assert_array_equal(lst.templates, [1, 5])
    np.testing.assert_array_equal(lst.subjects, [1, 4])


def test_image_list(tmp_path):
    assert read_image_list(write(tmp_path, "img_list.txt", "1.jpg\n\n2.jpg\n")) == {"1.jpg", "2.jpg"}


@pytest.mark.parametrize("reader, text, message", [
    (read_template_media, "1.jpg 1 69544\n2.jpg 1\n", r":2: expected 3 fields 'image tid mid', got 2"),
    (read_template_media, "1.jpg 1 69544\n2.jpg x 5\n", r":2: template id must be an integer, got 'x'"),
    (read_template_pairs, "1 2 1\n3 4\n", r":2: expected 3 fields 't1 t2 label', got 2"),
    (read_template_pairs, "1 2 1\n3 4 1\n5 6 2\n", r":3: label must be 0 or 1, got '2'"),
    (read_template_pairs, "1 2 1\n3 4.5 1\n", r":2: template id must be an integer, got '4.5'"),
    (read_face_scores, PTS + "3.jpg 1 2 3\n", r":3: expected 12 fields"),
    (read_face_scores, "1.jpg 1 2 3 4 5 6 7 8 9 10 high\n", r":1: landmarks and score must be numbers"),
    (read_face_scores, PTS + PTS.splitlines()[0].replace("0.999", "0.5") + "\n",
     r":3: image '1.jpg' is listed again with another score"),
    (read_template_subjects, "1,1,a.jpg\n", r":1: expected the header 'TEMPLATE_ID,SUBJECT_ID"),
    (read_template_subjects, GALLERY + "5,9,x.jpg\n", r":5: template 5 is listed with subjects 4 and 9"),
    (read_template_subjects, GALLERY + "six,9,x.jpg\n", r":5: TEMPLATE_ID must be an integer"),
])
def test_malformed_line_names_file_and_line(tmp_path, reader, text, message):
    path = write(tmp_path, "meta.txt", text)
    with pytest.raises(MetaFormatError, match=message) as info:
        reader(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("reader", [read_template_media, read_template_pairs, read_face_scores,
                                    read_template_subjects])
def test_missing_and_empty_files(tmp_path, reader):
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        reader(tmp_path / "nope.txt")
    if reader is not read_face_scores:  # an empty score file is simply an empty mapping
        with pytest.raises(MetaFormatError, match="no "):
            empty = "TEMPLATE_ID,SUBJECT_ID\n" if reader is read_template_subjects else ""
            reader(write(tmp_path, "empty.txt", empty))
