(function(){
  function key(td){var v=td?td.getAttribute('data-sort'):null;
    if(v===null||v===''){return null}var x=parseFloat(v);return isNaN(x)?v.toLowerCase():x}
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){
      th.title='click to sort';
      th.addEventListener('click',function(){
        var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var dir=th.getAttribute('data-dir')==='asc'?-1:1;
        t.querySelectorAll('th').forEach(function(h){h.removeAttribute('data-dir')});
        th.setAttribute('data-dir',dir===1?'asc':'desc');
        rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
          if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
          if(typeof x!==typeof y){x=String(x);y=String(y)}
          return x<y?-dir:x>y?dir:0});
        rows.forEach(function(r){body.appendChild(r)});
      });
    });
  });
})();
