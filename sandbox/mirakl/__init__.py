"""The Best Buy Canada Marketplace (Mirakl seller API) sandbox, split like the Canada Post one.

- :mod:`sandbox.mirakl.service`: ``MiraklService``, the :class:`sandbox.core.Service` (routing, auth,
  throttling and error answers) composed of the rooms below;
- :mod:`sandbox.mirakl.state`: the simulated world (orders, threads, the clock and what it drives);
- :mod:`sandbox.mirakl.render`: the API-shaped documents (orders, lines, threads, carriers, taxes);
- :mod:`sandbox.mirakl.wire`: dates, the error body and how requests are read;
- routes: :mod:`sandbox.mirakl.orders` (OR11/21/23/24/29, SH21), :mod:`sandbox.mirakl.inbox`
  (M10/M11/M12, OR43), :mod:`sandbox.mirakl.aftersale` (OR28/OR30/OR64, RE01/RE02, incidents) and
  :mod:`sandbox.mirakl.returns` (RT11/RT25/RT26/RT27);
- :mod:`sandbox.mirakl.admin`: the ``/__admin/`` actions and the state summary.
"""
