/*
 * Inside Tessera's card frame (on Tessera's origin). The card number, expiry and CVC never leave
 * this frame except in the request to Tessera itself; the parent page is told only the brand while
 * typing, and the token, brand and last four digits at the end. The parent origin comes from the
 * server, which checked it against the merchant's allowed origins (and told the browser, through
 * `frame-ancestors`, to refuse to show this frame anywhere else).
 */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('tessera-config').textContent);
  var PARENT = config.parentOrigin;
  var T = config.strings;
  var $ = function (id) { return document.getElementById(id); };

  function post(message) {
    if (PARENT) window.parent.postMessage(message, PARENT);
  }

  // A refused frame (unknown key, origin not allowed, unpayable order) holds no inputs: it only
  // tells the parent why, so tokenize() rejects with that code.
  if (config.error) {
    post({ type: 'tessera:error', code: config.error.code, message: config.error.message });
    return;
  }

  // Brands by their leading digits (IIN ranges), as the server's brand detection names them.
  var BRANDS = [
    { brand: 'amex', label: 'AMEX', re: /^3[47]/, lengths: [15], cvc: 4, gaps: [4, 10] },
    { brand: 'diners', label: 'DINERS', re: /^3(0[0-5]|[689])/, lengths: [14, 16, 19], cvc: 3, gaps: [4, 10] },
    { brand: 'jcb', label: 'JCB', re: /^35(2[89]|[3-8])/, lengths: [16, 17, 18, 19], cvc: 3, gaps: [4, 8, 12] },
    { brand: 'visa', label: 'VISA', re: /^4/, lengths: [13, 16, 19], cvc: 3, gaps: [4, 8, 12] },
    { brand: 'mastercard', label: 'MASTERCARD', re: /^(5[1-5]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720)/, lengths: [16], cvc: 3, gaps: [4, 8, 12] },
    { brand: 'discover', label: 'DISCOVER', re: /^(6011|64[4-9]|65|622)/, lengths: [16, 19], cvc: 3, gaps: [4, 8, 12] },
    { brand: 'unionpay', label: 'UNIONPAY', re: /^62/, lengths: [16, 17, 18, 19], cvc: 3, gaps: [4, 8, 12] },
  ];
  var UNKNOWN = { brand: 'unknown', label: '', lengths: [12, 13, 14, 15, 16, 17, 18, 19], cvc: 3, gaps: [4, 8, 12] };

  function brandOf(digits) {
    for (var i = 0; i < BRANDS.length; i++) if (BRANDS[i].re.test(digits)) return BRANDS[i];
    return UNKNOWN;
  }

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = digits.charCodeAt(digits.length - 1 - i) - 48;
      if (i % 2 === 1) { d *= 2; if (d > 9) d -= 9; }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function format(digits, gaps) {
    var out = '';
    for (var i = 0; i < digits.length; i++) {
      if (gaps.indexOf(i) !== -1) out += ' ';
      out += digits[i];
    }
    return out;
  }

  var number = $('number');
  var expiry = $('expiry');
  var cvc = $('cvc');
  var name = $('name');
  var brandBadge = $('brand');
  var formError = $('form-error');
  var busy = false;

  function digitsOf(input) { return input.value.replace(/\D/g, ''); }

  function currentBrand() { return brandOf(digitsOf(number)); }

  function setError(input, message) {
    var el = $(input.id + '-error');
    el.textContent = message || '';
    input.setAttribute('aria-invalid', message ? 'true' : 'false');
    input.parentNode.classList.toggle('invalid', !!message);
  }

  function numberError() {
    var digits = digitsOf(number);
    var b = brandOf(digits);
    if (!digits) return T.number_required;
    if (b.lengths.indexOf(digits.length) === -1 || !luhn(digits)) return T.number_invalid;
    return '';
  }

  function expiryParts() {
    var d = digitsOf(expiry);
    return { month: d.slice(0, 2), year: d.slice(2) };
  }

  function expiryError() {
    var p = expiryParts();
    if (!p.month && !p.year) return T.expiry_required;
    var month = Number(p.month);
    if (p.month.length !== 2 || month < 1 || month > 12 || (p.year.length !== 2 && p.year.length !== 4)) return T.expiry_invalid;
    var year = p.year.length === 2 ? 2000 + Number(p.year) : Number(p.year);
    var now = new Date();
    if (year < now.getFullYear() || (year === now.getFullYear() && month < now.getMonth() + 1)) return T.expiry_past;
    if (year > now.getFullYear() + 50) return T.expiry_invalid;
    return '';
  }

  function cvcError() {
    var d = digitsOf(cvc);
    var len = currentBrand().cvc;
    if (!d) return T.cvc_required;
    if (d.length !== len) return T.cvc_invalid.replace('{n}', String(len));
    return '';
  }

  function nameError() {
    var v = name.value.trim();
    if (!v) return T.name_required;
    if (/\d{12,}/.test(v.replace(/[\s-]/g, ''))) return T.name_invalid;
    return '';
  }

  var checks = { number: numberError, expiry: expiryError, cvc: cvcError, name: nameError };

  function complete() {
    return !numberError() && !expiryError() && !cvcError() && !nameError();
  }

  function announce() {
    var b = currentBrand();
    brandBadge.textContent = b.label;
    brandBadge.className = 'brand brand-' + b.brand;
    cvc.setAttribute('maxlength', String(b.cvc));
    cvc.placeholder = b.cvc === 4 ? '1234' : '123';
    post({ type: 'tessera:change', brand: b.brand, complete: complete() });
  }

  number.addEventListener('input', function () {
    var digits = digitsOf(number).slice(0, 19);
    var b = brandOf(digits);
    digits = digits.slice(0, Math.max.apply(null, b.lengths));
    number.value = format(digits, b.gaps);
    if (number.getAttribute('aria-invalid') === 'true' && !numberError()) setError(number, '');
    announce();
  });

  expiry.addEventListener('input', function (e) {
    var d = digitsOf(expiry).slice(0, 4);
    if (d.length === 1 && Number(d) > 1) d = '0' + d; // "4" → "04"
    var deleting = e.inputType && e.inputType.indexOf('delete') === 0;
    expiry.value = d.length > 2 || (d.length === 2 && !deleting) ? d.slice(0, 2) + ' / ' + d.slice(2) : d;
    if (expiry.getAttribute('aria-invalid') === 'true' && !expiryError()) setError(expiry, '');
    announce();
  });

  cvc.addEventListener('input', function () {
    cvc.value = digitsOf(cvc).slice(0, currentBrand().cvc);
    if (cvc.getAttribute('aria-invalid') === 'true' && !cvcError()) setError(cvc, '');
    announce();
  });

  name.addEventListener('input', function () {
    if (name.getAttribute('aria-invalid') === 'true' && !nameError()) setError(name, '');
    announce();
  });

  [number, expiry, cvc, name].forEach(function (input) {
    input.addEventListener('blur', function () {
      if (input.value) setError(input, checks[input.id]());
    });
  });

  /** Checks every field; shows the errors and focuses the first bad one. */
  function validateAll() {
    var first = null;
    [number, expiry, cvc, name].forEach(function (input) {
      var message = checks[input.id]();
      setError(input, message);
      if (message && !first) first = input;
    });
    if (first) first.focus();
    return first;
  }

  /** The registry code and param the server would answer for the first bad field (README "Hosted card fields"). */
  function codeOf(input) {
    var message = $(input.id + '-error').textContent;
    var empty = !input.value.trim();
    var byField = {
      number: [empty ? 'missing_field' : 'invalid_number', 'number'],
      expiry: empty ? ['missing_field', 'exp_month'] : message === T.expiry_past ? ['card_expired', 'exp_year'] : ['invalid_expiry_month', 'exp_month'],
      cvc: [empty ? 'missing_field' : 'invalid_cvc', 'cvc'],
      name: [empty ? 'missing_field' : 'invalid_name', 'name'],
    }[input.id];
    return { code: byField[0], message: message, param: byField[1] };
  }

  var FIELD_OF = { number: 'number', exp_month: 'expiry', exp_year: 'expiry', cvc: 'cvc', name: 'name' };

  function localized(error) {
    return T.errors[error.code] || error.message || T.errors.processing_error;
  }

  function showServerError(error) {
    var field = FIELD_OF[error.param];
    if (field) setError($(field), localized(error));
    else formError.textContent = localized(error);
  }

  function cardBody() {
    var p = expiryParts();
    return {
      number: digitsOf(number),
      name: name.value.trim(),
      exp_month: p.month,
      exp_year: p.year.length === 2 ? '20' + p.year : p.year,
      cvc: digitsOf(cvc),
    };
  }

  function send(url, headers, body) {
    return fetch(url, {
      method: 'POST',
      headers: Object.assign({ 'content-type': 'application/json' }, headers),
      body: JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
    }).then(function (res) {
      return res.json().then(function (json) { return { ok: res.ok, json: json }; }, function () {
        return { ok: false, json: { code: 'processing_error', message: 'Unexpected answer.', param: null } };
      });
    }, function () {
      return { ok: false, json: { code: 'network_error', message: T.errors.network_error, param: null } };
    });
  }

  function answer(id, result, error) {
    post(error ? { type: 'tessera:result', id: id, error: { code: error.code, message: error.message, param: error.param || null } } : { type: 'tessera:result', id: id, result: result });
  }

  function handle(action, id, options) {
    formError.textContent = '';
    if (busy) return answer(id, null, { code: 'busy', message: T.errors.busy, param: null });
    var bad = validateAll();
    if (bad) return answer(id, null, codeOf(bad));
    busy = true;
    document.body.classList.add('busy');
    var body = cardBody();
    var request;
    if (config.mode === 'pay') {
      if (options && options.installments) body.installments = options.installments;
      request = send('/pay/' + encodeURIComponent(config.order) + '/payments', {}, body);
    } else {
      ['tokenization', 'installments', 'fixed_installments'].forEach(function (k) {
        if (options && options[k] !== undefined) body[k] = options[k];
      });
      request = send('/elements/v1/tokens', { authorization: 'Bearer ' + config.key, 'tessera-parent-origin': PARENT }, body);
    }
    body = null;
    request.then(function (r) {
      busy = false;
      document.body.classList.remove('busy');
      if (!r.ok) {
        showServerError(r.json);
        return answer(id, null, { code: r.json.code, message: localized(r.json), param: r.json.param });
      }
      // Only what the parent may know: never the number, expiry or CVC.
      var result = config.mode === 'pay'
        ? { status: r.json.status, redirect_url: r.json.redirect_url || null }
        : { token: r.json.token, brand: r.json.brand, last4: r.json.last4 };
      answer(id, result, null);
    });
  }

  window.addEventListener('message', function (event) {
    // Only the parent page the server checked, and only the window that embeds this frame.
    if (event.origin !== PARENT || event.source !== window.parent) return;
    var data = event.data;
    if (!data || typeof data.type !== 'string' || typeof data.id !== 'string') return;
    if (data.type === 'tessera:tokenize' && config.mode === 'fields') handle('tokenize', data.id, data.options || {});
    if (data.type === 'tessera:pay' && config.mode === 'pay') handle('pay', data.id, data.options || {});
  });

  function resize() {
    post({ type: 'tessera:resize', height: Math.ceil(document.documentElement.getBoundingClientRect().height) });
  }
  if (window.ResizeObserver) new ResizeObserver(resize).observe(document.documentElement);
  resize();
  post({ type: 'tessera:ready' });
})();
