"""Generations: the endpoints of the resource and its sub-resources (approval, events,
artifacts), its use cases (service.py, with starting.py, course.py and admission.py), how
it is shown (presenters.py, resource.py) and the bodies and queries it takes."""
