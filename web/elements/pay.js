/* The hosted payment page: mounts Tessera's card frame for the order and pays it. */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('pay-config').textContent);
  var T = config.strings;
  var button = document.getElementById('pay-button');
  if (!button) return; // paid, refunded or in progress: nothing to do
  var planSelect = document.getElementById('plan');
  var errorLine = document.getElementById('pay-error');
  var label = button.textContent;
  var card = window.Tessera.card({ order: config.order, locale: config.locale }).mount('#card');

  card.on('ready', function () { button.disabled = false; });
  card.on('error', function (err) {
    errorLine.textContent = err.message;
    button.disabled = true;
  });

  function done(result) {
    var section = document.getElementById('payment');
    section.innerHTML = '';
    var box = document.createElement('div');
    box.className = 'result paid';
    box.id = 'result';
    var h = document.createElement('h2');
    h.textContent = T.paid;
    var p = document.createElement('p');
    p.textContent = result.redirect_url ? T.redirecting : config.paidText;
    box.appendChild(h);
    box.appendChild(p);
    section.appendChild(box);
    if (result.redirect_url && /^https?:\/\//.test(result.redirect_url)) {
      setTimeout(function () { window.location.assign(result.redirect_url); }, 600);
    }
  }

  button.addEventListener('click', function () {
    errorLine.textContent = '';
    button.disabled = true;
    button.textContent = T.paying;
    var installments = planSelect && planSelect.value ? Number(planSelect.value) : null;
    card.pay({ installments: installments }).then(done, function (err) {
      button.disabled = false;
      button.textContent = label;
      // The frame shows card and decline errors beside the fields; only what it cannot show goes here.
      if (err.code === 'timeout' || err.code === 'not_mounted' || err.code === 'order_not_payable') errorLine.textContent = err.message;
    });
  });
})();
