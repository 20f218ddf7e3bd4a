/* The trainer's control page: live counts by server-sent events; the buttons are plain forms. */
(function () {
  'use strict';
  var main = document.querySelector('main[data-events]');
  if (!main || !window.EventSource) return;
  var T = JSON.parse(main.getAttribute('data-texts'));
  var source = new EventSource(main.getAttribute('data-events'));
  source.onmessage = function (e) {
    var v = JSON.parse(e.data);
    document.getElementById('joined').textContent = String(v.joined);
    document.getElementById('phase').textContent = T['phase.' + v.phase] || v.phase;
    document.getElementById('answered').textContent = v.question ? T['board.answered'].replace('{answered}', v.question.answered).replace('{joined}', v.joined) : '';
  };
})();
