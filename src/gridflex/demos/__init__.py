"""The main job (``gridflex demo``) and the smaller demos (``gridflex demo s2``)."""
