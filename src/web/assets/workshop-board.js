/* The projector's board: follows the workshop by server-sent events (EventSource reconnects by itself). */
(function () {
  'use strict';
  var main = document.getElementById('board');
  var T = JSON.parse(main.getAttribute('data-texts'));
  var $ = function (id) { return document.getElementById(id); };
  var fill = function (s, vars) { return s.replace(/\{(\w+)\}/g, function (_, k) { return String(vars[k]); }); };
  var COLORS = ['#4fc3f7', '#ffb74d', '#ba68c8', '#f06292', '#aed581', '#fff176'];
  var chart = null;
  var chartKey = '';

  function show(section) {
    ['lobby', 'card', 'question', 'end'].forEach(function (s) { $(s).hidden = s !== section; });
    main.setAttribute('data-section', section);
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function rich(blocks) {
    var frag = document.createDocumentFragment();
    var list = null;
    blocks.forEach(function (b) {
      var p = el(b.type === 'bullet' ? 'li' : 'p');
      b.spans.forEach(function (s) {
        var n = document.createTextNode(s.text);
        var w = n;
        if (s.bold) { w = el('strong'); w.appendChild(n); }
        if (s.italic) { var i = el('em'); i.appendChild(w); w = i; }
        p.appendChild(w);
      });
      if (b.type === 'bullet') {
        if (!list) { list = el('ul'); frag.appendChild(list); }
        list.appendChild(p);
      } else { list = null; frag.appendChild(p); }
    });
    return frag;
  }

  function drawChart(q, revealed) {
    var labels = q.options.map(function (o) { return o.key; });
    var data = q.options.map(function (o) { return o.count; });
    var colors = q.options.map(function (o, i) {
      if (!revealed) return COLORS[i % COLORS.length];
      return o.correct ? '#66bb6a' : '#546e7a';
    });
    var key = q.number + ':' + labels.join('');
    if (!chart || chartKey !== key) {
      if (chart) chart.destroy();
      chartKey = key;
      chart = new window.Chart($('chart'), {
        type: 'bar',
        data: { labels: labels, datasets: [{ data: data, backgroundColor: colors, borderRadius: 8, maxBarThickness: 90 }] },
        options: {
          indexAxis: 'y', responsive: true, maintainAspectRatio: false,
          animation: { duration: 300 },
          plugins: { legend: { display: false }, tooltip: { enabled: false } },
          scales: {
            x: { beginAtZero: true, ticks: { precision: 0, color: '#ffffff', font: { size: 26 } }, grid: { color: 'rgba(255,255,255,0.15)' } },
            y: { ticks: { color: '#ffffff', font: { size: 40, weight: 'bold' } }, grid: { display: false } }
          }
        }
      });
    } else {
      chart.data.datasets[0].data = data;
      chart.data.datasets[0].backgroundColor = colors;
      chart.update();
    }
    main.setAttribute('data-counts', data.join(','));
  }

  function render(v) {
    $('title').textContent = v.title;
    $('joined').textContent = String(v.joined);
    main.setAttribute('data-phase', v.phase);
    if (v.phase === 'ended') {
      show('end');
      var podium = $('podium');
      podium.textContent = '';
      (v.podium || []).forEach(function (s, i) {
        var li = el('li', 'place place-' + (i + 1));
        li.appendChild(el('span', 'medal', ['1', '2', '3'][i]));
        li.appendChild(el('span', 'name', s.name));
        li.appendChild(el('span', 'score', fill(T['board.points'], { right: s.right })));
        podium.appendChild(li);
      });
      var hardest = $('hardest');
      hardest.textContent = '';
      (v.hardest || []).forEach(function (r) {
        var li = el('li');
        li.appendChild(el('span', 'q', r.question));
        li.appendChild(el('span', 'score', fill(T['board.right_of'], { right: r.right, answered: r.answered })));
        hardest.appendChild(li);
      });
      return;
    }
    if (v.card) {
      show('card');
      $('card-title').textContent = v.card.lessonTitle + ' · ' + v.card.index + '/' + v.card.total;
      var body = $('card-body');
      body.textContent = '';
      body.appendChild(rich(v.card.body));
      return;
    }
    if (v.question) {
      var q = v.question;
      var revealed = v.phase === 'revealed';
      show('question');
      $('q-number').textContent = fill(T['board.question'], { number: q.number, total: q.total }) + ' · ' + T['phase.' + v.phase];
      $('q-text').textContent = q.text;
      var ol = $('q-options');
      ol.textContent = '';
      q.options.forEach(function (o, i) {
        var li = el('li', revealed ? (o.correct ? 'right' : 'wrong') : '');
        var k = el('span', 'key', o.key);
        k.style.background = revealed ? '' : COLORS[i % COLORS.length];
        li.appendChild(k);
        li.appendChild(el('span', 'text', o.text));
        li.appendChild(el('span', 'count', String(o.count)));
        ol.appendChild(li);
      });
      $('q-answered').textContent = fill(T['board.answered'], { answered: q.answered, joined: v.joined });
      main.setAttribute('data-answered', String(q.answered));
      var ex = $('explanation');
      ex.hidden = !q.explanation;
      ex.textContent = q.explanation ? q.explanation : '';
      drawChart(q, revealed);
      return;
    }
    show('lobby');
  }

  function connect() {
    var source = new EventSource(main.getAttribute('data-events'));
    source.onopen = function () { $('conn').hidden = true; };
    source.onmessage = function (e) { render(JSON.parse(e.data)); };
    source.onerror = function () { $('conn').hidden = false; };
  }
  connect();
})();
