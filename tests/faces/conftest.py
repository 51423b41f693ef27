"""The astronaut's detected face (the photo and the segmenter are in tests/conftest.py)."""

import pytest


@pytest.fixture(scope="session")
def astronaut_face(astronaut):
    from keras_p2c.faces import detect_faces

    faces = detect_faces(astronaut)
    assert len(faces) == 1, [face.to_dict() for face in faces]
    return faces[0]

