<?xml version="1.0" encoding="UTF-8"?>
<!--
  Formatting helpers: prices, times, dates, string replacement and JSON string escaping.
  Pure XSLT 1.0, no extension functions: loops are recursive named templates.
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <!-- French numbers: decimal comma, narrow no-break space between thousands. -->
  <xsl:decimal-format name="fr" decimal-separator="," grouping-separator="&#x202F;"/>

  <!-- ============================================================ prices -->

  <!-- Formats a <price> element (context node or $price):
       fr "1,30 €", "à partir de 45 €", "12 € / pièce", "Sur devis";
       en "€1.30", "from €45", "€12 / piece", "On request". Whole amounts drop the cents. -->
  <xsl:template name="format-price">
    <xsl:param name="price" select="."/>
    <xsl:choose>
      <xsl:when test="$price/@on-request = 'true'">
        <xsl:call-template name="t"><xsl:with-param name="key" select="'on-request'"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:variable name="amount" select="number(normalize-space($price))"/>
        <xsl:variable name="code">
          <xsl:choose>
            <xsl:when test="$price/@currency"><xsl:value-of select="$price/@currency"/></xsl:when>
            <xsl:otherwise>EUR</xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <xsl:variable name="symbol">
          <xsl:choose>
            <xsl:when test="$code = 'EUR'">€</xsl:when>
            <xsl:when test="$code = 'USD'">$</xsl:when>
            <xsl:when test="$code = 'GBP'">£</xsl:when>
            <xsl:otherwise><xsl:value-of select="$code"/></xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <xsl:variable name="number">
          <xsl:choose>
            <xsl:when test="$fr and $amount = floor($amount)"><xsl:value-of select="format-number($amount, '#&#x202F;##0', 'fr')"/></xsl:when>
            <xsl:when test="$fr"><xsl:value-of select="format-number($amount, '#&#x202F;##0,00', 'fr')"/></xsl:when>
            <xsl:when test="$amount = floor($amount)"><xsl:value-of select="format-number($amount, '#,##0')"/></xsl:when>
            <xsl:otherwise><xsl:value-of select="format-number($amount, '#,##0.00')"/></xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <xsl:if test="$price/@from = 'true'">
          <xsl:call-template name="t"><xsl:with-param name="key" select="'from'"/></xsl:call-template>
        </xsl:if>
        <xsl:choose>
          <!-- French puts the symbol after, with a no-break space. -->
          <xsl:when test="$fr"><xsl:value-of select="concat($number, '&#xA0;', $symbol)"/></xsl:when>
          <xsl:when test="string-length($symbol) = 1"><xsl:value-of select="concat($symbol, $number)"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="concat($symbol, '&#xA0;', $number)"/></xsl:otherwise>
        </xsl:choose>
        <xsl:if test="$price/@unit">
          <xsl:value-of select="concat('&#xA0;/ ', $price/@unit)"/>
        </xsl:if>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ============================================================= times -->

  <!-- "07:30" -> fr "7h30", "13:00" -> fr "13h"; en "7:30 am", "1 pm", "12 pm", "midnight". -->
  <xsl:template name="format-time">
    <xsl:param name="time"/>
    <xsl:variable name="h" select="number(substring($time, 1, 2))"/>
    <xsl:variable name="m" select="substring($time, 4, 2)"/>
    <xsl:choose>
      <xsl:when test="$fr">
        <xsl:value-of select="$h"/>
        <xsl:text>h</xsl:text>
        <xsl:if test="$m != '00'"><xsl:value-of select="$m"/></xsl:if>
      </xsl:when>
      <xsl:when test="$h = 0 or $h = 24">
        <xsl:choose>
          <xsl:when test="$m = '00'">midnight</xsl:when>
          <xsl:otherwise><xsl:value-of select="concat('12:', $m, '&#xA0;am')"/></xsl:otherwise>
        </xsl:choose>
      </xsl:when>
      <xsl:otherwise>
        <xsl:variable name="h12">
          <xsl:choose>
            <xsl:when test="$h &gt; 12"><xsl:value-of select="$h - 12"/></xsl:when>
            <xsl:otherwise><xsl:value-of select="$h"/></xsl:otherwise>
          </xsl:choose>
        </xsl:variable>
        <xsl:value-of select="$h12"/>
        <xsl:if test="$m != '00'"><xsl:value-of select="concat(':', $m)"/></xsl:if>
        <xsl:choose>
          <xsl:when test="$h &lt; 12">&#xA0;am</xsl:when>
          <xsl:otherwise>&#xA0;pm</xsl:otherwise>
        </xsl:choose>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ============================================================= dates -->

  <!-- "2026-08-01" -> fr "1er août 2026", en "1 August 2026".
       $year = false() leaves the year out (for the first half of a range). -->
  <xsl:template name="format-date">
    <xsl:param name="date"/>
    <xsl:param name="month" select="true()"/>
    <xsl:param name="year" select="true()"/>
    <xsl:variable name="d" select="number(substring($date, 9, 2))"/>
    <xsl:value-of select="$d"/>
    <xsl:if test="$fr and $d = 1">er</xsl:if>
    <xsl:if test="$month">
      <xsl:text>&#xA0;</xsl:text>
      <xsl:call-template name="month-name"><xsl:with-param name="month" select="substring($date, 6, 2)"/></xsl:call-template>
    </xsl:if>
    <xsl:if test="$year">
      <xsl:value-of select="concat(' ', substring($date, 1, 4))"/>
    </xsl:if>
  </xsl:template>

  <!-- A closure's period, without repeating what both ends share:
       fr "le 14 juillet 2026", "du 1er au 21 août 2026", "du 24 décembre 2026 au 2 janvier 2027";
       en "on 14 July 2026", "from 1 to 21 August 2026", ... -->
  <xsl:template name="format-period">
    <xsl:param name="from"/>
    <xsl:param name="to"/>
    <xsl:choose>
      <xsl:when test="not(string($to)) or $to = $from">
        <xsl:choose>
          <xsl:when test="$fr">le </xsl:when>
          <xsl:otherwise>on </xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="format-date"><xsl:with-param name="date" select="$from"/></xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:variable name="same-year" select="substring($from, 1, 4) = substring($to, 1, 4)"/>
        <xsl:variable name="same-month" select="$same-year and substring($from, 6, 2) = substring($to, 6, 2)"/>
        <xsl:choose>
          <xsl:when test="$fr">du </xsl:when>
          <xsl:otherwise>from </xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="format-date">
          <xsl:with-param name="date" select="$from"/>
          <xsl:with-param name="month" select="not($same-month)"/>
          <xsl:with-param name="year" select="not($same-year)"/>
        </xsl:call-template>
        <xsl:choose>
          <xsl:when test="$fr"> au </xsl:when>
          <xsl:otherwise> to </xsl:otherwise>
        </xsl:choose>
        <xsl:call-template name="format-date"><xsl:with-param name="date" select="$to"/></xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ============================================================ strings -->

  <!-- Replaces every occurrence of $search in $text by $replace. Recursion depth is the
       number of occurrences, not the length of the text. -->
  <xsl:template name="replace">
    <xsl:param name="text"/>
    <xsl:param name="search"/>
    <xsl:param name="replace"/>
    <xsl:choose>
      <xsl:when test="$search != '' and contains($text, $search)">
        <xsl:value-of select="substring-before($text, $search)"/>
        <xsl:value-of select="$replace"/>
        <xsl:call-template name="replace">
          <xsl:with-param name="text" select="substring-after($text, $search)"/>
          <xsl:with-param name="search" select="$search"/>
          <xsl:with-param name="replace" select="$replace"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise><xsl:value-of select="$text"/></xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- The body of a JSON string (without the quotes) for $text.
       Escapes \ first (so later escapes are not doubled), then ", then the only control
       characters an XML 1.0 document can hold (tab, LF, CR; the others are not allowed in
       XML 1.0 at all), then "<" as \u003c so that "</script" can never close the
       <script type="application/ld+json"> element (the HTML output method does not escape
       script content). U+2028/U+2029 are escaped too, as older JavaScript parsers choke on them. -->
  <xsl:template name="json-escape">
    <xsl:param name="text"/>
    <xsl:choose>
      <!-- Fast path: almost every string needs no escaping, and the chain below builds eight
           result-tree fragments per string, which dominated the cost of a page render. -->
      <xsl:when test="translate($text, $json-special, '') = $text">
        <xsl:value-of select="$text"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:variable name="s1">
          <xsl:call-template name="replace">
            <xsl:with-param name="text" select="$text"/>
            <xsl:with-param name="search" select="'\'"/>
            <xsl:with-param name="replace" select="'\\'"/>
          </xsl:call-template>
        </xsl:variable>
        <xsl:variable name="s2">
          <xsl:call-template name="replace">
            <xsl:with-param name="text" select="$s1"/>
            <xsl:with-param name="search" select="'&quot;'"/>
            <xsl:with-param name="replace" select="'\&quot;'"/>
          </xsl:call-template>
        </xsl:variable>
        <xsl:variable name="s3">
          <xsl:call-template name="replace">
            <xsl:with-param name="text" select="$s2"/>
            <xsl:with-param name="search" select="'&#10;'"/>
            <xsl:with-param name="replace" select="'\n'"/>
          </xsl:call-template>
        </xsl:variable>
        <xsl:variable name="s4">
          <xsl:call-template name="replace">
            <xsl:with-param name="text" select="$s3"/>
            <xsl:with-param name="search" select="'&#13;'"/>
            <xsl:with-param name="replace" select="'\r'"/>
          </xsl:call-template>
        </xsl:variable>
        <xsl:variable name="s5">
          <xsl:call-template name="replace">
            <xsl:with-param name="text" select="$s4"/>
            <xsl:with-param name="search" select="'&#9;'"/>
            <xsl:with-param name="replace" select="'\t'"/>
          </xsl:call-template>
        </xsl:variable>
        <xsl:variable name="s6">
          <xsl:call-template name="replace">
            <xsl:with-param name="text" select="$s5"/>
            <xsl:with-param name="search" select="'&lt;'"/>
            <xsl:with-param name="replace" select="'\u003c'"/>
          </xsl:call-template>
        </xsl:variable>
        <xsl:variable name="s7">
          <xsl:call-template name="replace">
            <xsl:with-param name="text" select="$s6"/>
            <xsl:with-param name="search" select="'&#x2028;'"/>
            <xsl:with-param name="replace" select="'\u2028'"/>
          </xsl:call-template>
        </xsl:variable>
        <xsl:call-template name="replace">
          <xsl:with-param name="text" select="$s7"/>
          <xsl:with-param name="search" select="'&#x2029;'"/>
          <xsl:with-param name="replace" select="'\u2029'"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- The characters json-escape rewrites. -->
  <xsl:variable name="json-special" select="'\&quot;&#10;&#13;&#9;&lt;&#x2028;&#x2029;'"/>

  <!-- A complete JSON string value, quotes included. The test of json-escape's fast path is
       repeated here and in json-member: a template call costs more in libxslt than the
       test, and almost no string needs escaping. -->
  <xsl:template name="json-string">
    <xsl:param name="text"/>
    <xsl:choose>
      <xsl:when test="translate($text, $json-special, '') = $text">
        <xsl:value-of select="concat('&quot;', $text, '&quot;')"/>
      </xsl:when>
      <xsl:otherwise>
        <xsl:text>"</xsl:text>
        <xsl:call-template name="json-escape"><xsl:with-param name="text" select="$text"/></xsl:call-template>
        <xsl:text>"</xsl:text>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <!-- ,"key":"value" when value is not empty (members after the first of an object). -->
  <xsl:template name="json-member">
    <xsl:param name="key"/>
    <xsl:param name="value"/>
    <xsl:variable name="v" select="normalize-space($value)"/>
    <xsl:if test="$v != ''">
      <xsl:choose>
        <xsl:when test="translate($v, $json-special, '') = $v">
          <xsl:value-of select="concat(',&quot;', $key, '&quot;:&quot;', $v, '&quot;')"/>
        </xsl:when>
        <xsl:otherwise>
          <xsl:value-of select="concat(',&quot;', $key, '&quot;:&quot;')"/>
          <xsl:call-template name="json-escape"><xsl:with-param name="text" select="$v"/></xsl:call-template>
          <xsl:text>"</xsl:text>
        </xsl:otherwise>
      </xsl:choose>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
