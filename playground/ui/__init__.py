"""Streamlit widgets: one sub-package per page, plus the pieces several pages share (only ui/ imports streamlit).

Which cache when. A page reruns on every click of every student, so anything a run would redo is kept
somewhere; each way below is used for the reason given (the measurements are in the code it names):

- ``st.cache_resource``: one object per process, handed out as it is, never copied: a loaded model
  (:mod:`playground.ui.model_cache`; read-only, hooks attached per call), the job manager, a bundled
  dataset written once, a model's measured latency. For objects that are big, own threads or files, or
  whose identity matters. Never the only copy of anything: any client can clear it.
- ``st.cache_data``: a value computed once for every session, each caller getting its own copy
  (unpickled on every hit); ``ttl`` for what is read off disk or a cluster and changes (the model list,
  10 s; a fine-tune's label, 10 s; the zoo's weights status and the Ray cluster's size, 30 s; the disk
  use). For pure results that are small to copy: catalogue measurements, training and memory
  estimates, gradients, thumbnails.
- ``@replayed`` (:mod:`playground.ui.replay`): a function that *draws* elements (tables, charts,
  pictures) from plain hashable arguments, drawn once per server and its recorded messages re-sent on
  later runs: rebuilding the figures, Arrow tables and PNGs of unchanged parts was most of each page's
  CPU with a class on it. ``cache_resource`` underneath, because unpickling the messages (``cache_data``)
  cost more than drawing them. Never around a widget.
- ``functools.lru_cache``: a small pure function where Streamlit's argument hashing would cost more
  than the call, or where the same object must come back: Plotly figures built once
  (``st.plotly_chart`` only serialises them), a held-out image (the inference cache knows an image by
  its object), an analysed stack. Bounded by ``maxsize``; not cleared by clients.
- :class:`playground.models.serving.ResultCache` (``serving().cache``, and the Concepts figures'
  memo): results keyed by a photo's or an array's content, bounded in bytes, computed once when many
  sessions ask at the same moment (the others wait for that computation). For inference results and
  other photo-sized results every session shares.
- ``st.session_state``: what belongs to one browser: its decoded upload (the same image object on
  every rerun, so its digest is computed once; never shared with other students), its staged zip, which
  (model, photo) its explanation widgets belong to, its kernel edits. Widget values kept while a widget
  is not drawn go through :mod:`playground.ui.widget_state`.
"""
